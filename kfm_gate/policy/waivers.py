"""Load and validate the council's waivers (``policies/waivers/*.yml``).

A waiver is checked twice: on its own (:class:`~kfm_gate.models.Waiver`: strict types, real
days, reason and approver not blank once trimmed) and against the policy set
(:func:`waiver_problems`): its approver is a member of the council roster, every rule it
names is a rule id of the policy set that the council declares waivable and no
never-waivable prefix covers (CARE, sovereignty, flags, geo, person-PII...), its reason is
long enough. Both live in ``policies/data/waivers.json`` (``data.kfm.params.waivers``), which
``waivers.rego`` enforces too. A waiver that fails either check makes :func:`load_waivers`
raise :class:`~kfm_gate.errors.InputError` (the gate's outcome is then ``error``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kfm_gate.errors import InputError
from kfm_gate.limits import LIMITS, load_json, load_yaml
from kfm_gate.models import Waiver
from kfm_gate.models.base import describe_validation_error

#: the council's waiver policy data, relative to the policy folder
WAIVER_DATA = Path("data") / "waivers.json"
#: a rule id as the Rego modules write it in a violation: ``"rule": "<topic>.<name>"``
_RULE_LITERAL = re.compile(r'"rule"\s*:\s*"([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)"')


@dataclass(frozen=True)
class WaiverPolicy:
    """What the council declares about waivers, and the rule ids of the policy set."""

    waivable_rules: frozenset[str]
    never_waivable_prefixes: tuple[str, ...]
    roster: frozenset[str]
    reason_min_chars: int
    known_rules: frozenset[str]

    def waivable(self, rule: str) -> bool:
        """Listed as waivable and under no never-waivable prefix (same rule as the Rego)."""
        return rule in self.waivable_rules and not rule.startswith(self.never_waivable_prefixes)


def _signature(policy_dir: Path) -> tuple[tuple[str, int, int], ...]:
    files = [policy_dir / WAIVER_DATA, *sorted(policy_dir.rglob("*.rego"))]
    out = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_waiver_policy(policy_dir: Path) -> WaiverPolicy:
    """The waiver policy of ``policy_dir`` (read again only when its files change)."""
    return _load_waiver_policy(policy_dir.resolve(), _signature(policy_dir.resolve()))


@functools.lru_cache(maxsize=16)
def _load_waiver_policy(policy_dir: Path, _signature: Any) -> WaiverPolicy:
    path = policy_dir / WAIVER_DATA
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise InputError(
            f"policy data {path} is missing: the council must declare which rules are "
            "waivable and its roster before any waiver can apply"
        ) from err
    except OSError as err:
        raise InputError(f"cannot read policy data {path}: {err.strerror}") from err
    doc = load_json(raw, str(path), max_bytes=LIMITS.document_bytes)
    problems = []
    if not isinstance(doc, dict):
        raise InputError(f"policy data {path} must be a JSON object")
    waivable = doc.get("waivable_rules")
    never = doc.get("never_waivable_prefixes")
    roster = doc.get("roster")
    min_chars = doc.get("reason_min_chars")
    if not isinstance(waivable, list) or not all(isinstance(r, str) for r in waivable):
        problems.append("waivable_rules must be an array of rule ids")
    if not isinstance(never, list) or not never or not all(isinstance(p, str) for p in never):
        problems.append("never_waivable_prefixes must be a non-empty array of rule id prefixes")
    if (
        not isinstance(roster, list)
        or not roster
        or not all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in roster)
    ):
        problems.append("roster must be a non-empty array of members with a string id")
    if isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 1:
        problems.append("reason_min_chars must be a positive integer")
    if problems:
        raise InputError(f"policy data {path}: {'; '.join(problems)}")
    assert isinstance(waivable, list) and isinstance(never, list) and isinstance(roster, list)
    assert isinstance(min_chars, int)
    prefixes = tuple(str(p) for p in never)
    clash = sorted(r for r in waivable if str(r).startswith(prefixes))
    if clash:
        raise InputError(
            f"policy data {path}: waivable_rules lists {clash}, which a never-waivable prefix "
            "covers; remove them (CARE, sovereignty, flags and person-PII rules are never waived)"
        )
    known: set[str] = set()
    for rego in sorted(policy_dir.rglob("*.rego")):
        if rego.name.endswith("_test.rego"):
            continue
        known.update(_RULE_LITERAL.findall(rego.read_text(encoding="utf-8")))
    return WaiverPolicy(
        waivable_rules=frozenset(str(r) for r in waivable),
        never_waivable_prefixes=prefixes,
        roster=frozenset(str(m["id"]) for m in roster),
        reason_min_chars=int(min_chars),
        known_rules=frozenset(known),
    )


def waiver_problems(waiver: Waiver, policy: WaiverPolicy) -> list[str]:
    """Why ``waiver`` may not apply under ``policy`` (empty when it may)."""
    problems = []
    if waiver.approver.strip() not in policy.roster:
        problems.append(
            f"approver {waiver.approver!r} is not a member of the council roster "
            f"({', '.join(sorted(policy.roster))})"
        )
    if len(waiver.reason.strip()) < policy.reason_min_chars:
        problems.append(f"reason is shorter than {policy.reason_min_chars} characters once trimmed")
    for rule in waiver.scope.rules:
        if "*" in rule:
            problems.append(f"rule {rule!r} is a wildcard: name each waivable rule id")
        elif rule not in policy.known_rules:
            problems.append(
                f"rule {rule!r} is not a rule id of the policy set (a reason code or a typo?)"
            )
        elif not policy.waivable(rule):
            problems.append(
                f"rule {rule!r} may not be waived (data/waivers.json does not list it as "
                "waivable, or a never-waivable prefix covers it)"
            )
    return problems


def read_waivers(policy_dir: Path) -> list[tuple[Path, Waiver]]:
    """Every waiver of ``policy_dir/waivers`` with its file, checked on its own (strict
    YAML, the model); InputError naming the file and every invalid field."""
    folder = policy_dir / "waivers"
    if not folder.is_dir():
        return []
    found: list[tuple[Path, Waiver]] = []
    ids: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            raw = load_yaml(path.read_bytes(), f"waiver file {path}")
        except OSError as err:
            raise InputError(f"waiver file {path} cannot be read: {err.strerror}") from err
        docs = raw if isinstance(raw, list) else [raw]
        for doc in docs:
            try:
                waiver = Waiver.model_validate(doc)
            except ValidationError as err:
                raise InputError(
                    describe_validation_error(err, f"waiver file {path}")
                    + " (fields: id, scope {asset, aois, from, to, rules}, reason, approver, "
                    "created, expires)"
                ) from err
            if waiver.id in ids:
                raise InputError(
                    f"waiver id {waiver.id!r} is defined twice ({ids[waiver.id]}, {path})"
                )
            ids[waiver.id] = path
            found.append((path, waiver))
    return sorted(found, key=lambda item: item[1].id)


def load_waivers(policy_dir: Path, *, check_policy: bool = True) -> list[Waiver]:
    """Every waiver of ``policy_dir/waivers``, sorted by id. InputError for an invalid file
    or, with ``check_policy``, for any waiver :func:`waiver_problems` refuses (all listed)."""
    found = read_waivers(policy_dir)
    if check_policy and found:
        policy = load_waiver_policy(policy_dir)
        problems = [
            f"waiver {w.id} ({path.name}): {p}"
            for path, w in found
            for p in waiver_problems(w, policy)
        ]
        if problems:
            raise InputError(
                f"{len(problems)} waiver problem(s) in {policy_dir / 'waivers'}: "
                + "; ".join(problems)
                + " (check them with kfm-gate waiver check)"
            )
    return [w for _, w in found]


def waivers_policy_input(waivers: list[Waiver], today: dt.date) -> list[dict[str, Any]]:
    """Waivers as the policy reads them (dates as strings, status for reports)."""
    out = []
    for w in waivers:
        doc = w.to_json_dict()
        doc["status"] = w.status(today)
        out.append(doc)
    return out
