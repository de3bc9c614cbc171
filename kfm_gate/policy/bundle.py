"""The council's policy set on disk: Rego modules, data, waivers and suites, and its digest.

Layout of a policy folder::

    policies/
      kfm/gate/*.rego          rules (package kfm.gate), each with a *_test.rego beside it
      data/<topic>.json|yaml   thresholds and tiers, loaded at data.kfm.params.<topic>
      waivers/*.yml            waivers (read by the gate, passed to the policy as input)
      quality/<dataset>.json   Great Expectations suites

The digest covers the sorted relative paths and contents of every ``*.rego``, ``data/**``,
``waivers/**`` and ``quality/**`` file: editing any of them changes the run ids it feeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kfm_gate.errors import ConfigError, PolicyError
from kfm_gate.ids import digest_files

DIGESTED_DIRS = ("data", "waivers", "quality")


@dataclass(frozen=True)
class PolicySet:
    """The files of one policy folder, read once."""

    root: Path
    modules: dict[str, str]  # relative path -> Rego source (tests excluded)
    tests: dict[str, str]  # relative path -> Rego source of *_test.rego
    data: dict[str, Any]  # merged parameters: {topic: document}
    digest: str
    files: tuple[str, ...] = field(default=())

    @property
    def revision(self) -> str:
        """Bundle revision: the digest without its algorithm prefix (OPA-friendly)."""
        return self.digest.removeprefix("sha256:")


def _load_data_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise PolicyError(f"policy data file {path} is not valid {path.suffix[1:]}: {err}") from err


def load_policy_set(root: Path) -> PolicySet:
    """Read a policy folder. Raises ConfigError when it does not exist or holds no Rego."""
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"policy folder {root} does not exist; pass --policies DIR")
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    digested: list[tuple[str, bytes]] = []
    for path in sorted(root.rglob("*.rego")):
        rel = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PolicyError(f"{rel}: Rego file is not UTF-8 ({err})") from err
        (tests if path.name.endswith("_test.rego") else modules)[rel] = source
        digested.append((rel, raw))
    if not modules:
        raise ConfigError(f"policy folder {root} holds no .rego module")
    data: dict[str, Any] = {}
    for sub in DIGESTED_DIRS:
        base = root / sub
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            digested.append((rel, path.read_bytes()))
            if sub == "data" and path.suffix in (".json", ".yml", ".yaml"):
                topic = path.relative_to(base).with_suffix("").as_posix().replace("/", ".")
                data[topic] = _load_data_file(path)
    return PolicySet(
        root=root,
        modules=modules,
        tests=tests,
        data=data,
        digest=digest_files(digested),
        files=tuple(rel for rel, _ in digested),
    )
