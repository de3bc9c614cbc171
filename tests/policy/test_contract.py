"""The contract between the council's Rego and the gate's collectors and documents."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from kfm_gate.errors import PolicyEvalError
from kfm_gate.policy import contract
from kfm_gate.runtime import build_default_gate
from kfm_gate.samples import sample_draft
from tests.helpers import REPO

#: ``input.evidence.<section>`` and ``input.evidence["<section>"]`` in Rego
_SECTION = re.compile(r"input\.evidence(?:\.([a-z_][a-z0-9_]*)|\[\"([a-z_][a-z0-9_]*)\"\])")


def _rego_sections(policy_dir: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((policy_dir / "kfm").rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        for m in _SECTION.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(m.group(1) or m.group(2), []).append(path.name)
    return found


def _produced(root: Path) -> set[str]:
    gate = build_default_gate(root)
    try:
        return {c.name for c in gate.collectors} | {"obligations"}  # the gate's own section
    finally:
        gate.close()


def test_every_evidence_section_a_rule_reads_is_produced_by_a_collector() -> None:
    import json

    read = _rego_sections(REPO / "policies")
    assert read, "no input.evidence reference found: the pattern is out of date"
    produced = _produced(REPO)
    missing = {s: files for s, files in read.items() if s not in produced}
    assert not missing, f"sections read by the Rego that no collector produces: {missing}"
    required = json.loads((REPO / "policies/data/gate.json").read_text())["required_evidence"]
    assert set(required) <= produced  # input.evidence[name] of integrity.evidence_missing


def test_the_documented_sections_are_the_produced_ones() -> None:
    doc = (REPO / "docs/policy-input.md").read_text(encoding="utf-8")
    table = doc.split("## Evidence sections", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert documented == _produced(REPO)


def test_a_section_read_but_never_produced_is_caught(tmp_path: Path) -> None:
    rule = tmp_path / "kfm" / "gate" / "x.rego"
    rule.parent.mkdir(parents=True)
    rule.write_text("package kfm.gate\n\nbad if input.evidence.stac.valid == false\n")
    assert "stac" in _rego_sections(tmp_path)
    assert "stac" not in _produced(REPO)


def test_both_documents_are_built_from_the_same_parts() -> None:
    draft = sample_draft("deny")
    assert draft.request is not None
    flags, missing = contract.effective_flags(draft.request)
    base = contract.policy_input(draft.request, flags, missing, {}, dt.date(2026, 11, 1))
    assert base["today"] == "2026-11-01" and base["now"] == "2026-11-01T00:00:00Z"
    phase2 = contract.decision_input(
        base, draft.decision.obligations, contract.evidence_input(draft.evidence), []
    )
    assert {k: phase2[k] for k in base} == base
    assert phase2["evidence"] == draft.evidence.to_policy_input()
    assert contract.evidence_input(draft.evidence.to_json_dict()) == phase2["evidence"]
    assert contract.at_day(base, dt.date(2027, 1, 2))["today"] == "2027-01-02"


def test_answers_are_read_strictly() -> None:
    answer = contract.parse_decision(
        {
            "outcome": "quarantine",
            "violations": [],
            "quarantine": [{"rule": "care.review", "code": "REQUIRE_STEWARD_REVIEW", "msg": "m"}],
        }
    )
    assert [v.code for v in answer.violations] == ["REQUIRE_STEWARD_REVIEW"]
    assert answer.reasons == ("REQUIRE_STEWARD_REVIEW",)
    for bad in (None, {"outcome": "error"}, {"outcome": "allow", "violations": [{"rule": 1}]}):
        with pytest.raises(PolicyEvalError):
            contract.parse_decision(bad)
    with pytest.raises(PolicyEvalError):
        contract.parse_obligations("GENERALIZE")


def test_the_phase_2_input_is_the_phase_1_input_and_what_phase_2_adds() -> None:
    """``policy impact`` sends a phase-1 input once and unions it with ``decision_extra`` in
    OPA (``object.union``): that is ``decision_input`` only while the two share no key."""
    draft = sample_draft("allow")
    assert draft.request is not None
    flags, missing = contract.effective_flags(draft.request)
    base = contract.policy_input(draft.request, flags, missing, {}, dt.date(2026, 11, 1))
    extra = contract.decision_extra(
        draft.decision.obligations, contract.evidence_input(draft.evidence), [{"id": "w"}]
    )
    assert not set(base) & set(extra)
    assert contract.decision_input(
        base, draft.decision.obligations, contract.evidence_input(draft.evidence), [{"id": "w"}]
    ) == {**base, **extra}
