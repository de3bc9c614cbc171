"""Load and validate the council's waivers (``policies/waivers/*.yml``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kfm_gate.errors import InputError
from kfm_gate.models import Waiver


def load_waivers(policy_dir: Path) -> list[Waiver]:
    """Every waiver of ``policy_dir/waivers``, sorted by id; an invalid file raises InputError."""
    folder = policy_dir / "waivers"
    if not folder.is_dir():
        return []
    waivers: dict[str, Waiver] = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise InputError(f"waiver file {path} is not valid YAML: {err}") from err
        docs = raw if isinstance(raw, list) else [raw]
        for doc in docs:
            try:
                waiver = Waiver.model_validate(doc)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise InputError(
                    f"waiver file {path}: {where}: {first['msg']} "
                    "(fields: id, scope {asset, aois, from, to, rules}, reason, approver, "
                    "created, expires)"
                ) from err
            if waiver.id in waivers:
                raise InputError(f"waiver id {waiver.id!r} is defined twice ({path})")
            waivers[waiver.id] = waiver
    return [waivers[k] for k in sorted(waivers)]


def waivers_policy_input(waivers: list[Waiver], today: dt.date) -> list[dict[str, Any]]:
    """Waivers as the policy reads them (dates as strings, status for reports)."""
    out = []
    for w in waivers:
        doc = w.to_json_dict()
        doc["status"] = w.status(today)
        out.append(doc)
    return out
