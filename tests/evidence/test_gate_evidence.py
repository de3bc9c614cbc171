"""The evidence collectors and the redaction engine inside a real gate run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.evidence.conftest import evidence_gate, seeded_sites, to_csv
from tests.helpers import PART, dump, make_request, scratch_repo


def _gate(root: Path) -> Any:
    return evidence_gate(root)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path)


def test_seeded_values_never_leave_the_candidate(root: Path) -> None:
    rows, planted = seeded_sites(rows=200)
    content = to_csv(rows).encode("utf-8")
    run = _gate(root).evaluate(dump(make_request(root, content=content, name="sites.csv")))
    decision = run.decision
    assert decision.outcome != "error", decision.error
    sections = run.evidence.sections
    assert {"quality", "pii", "secrets"} <= set(sections)
    assert sections["quality"].data["success"] is True
    applied = sections["obligations"].data["applied"]
    assert {
        "code": "REDACT_FREE_TEXT",
        "kind": "redact",
        "engine": "redaction",
        "applied": True,
    } in applied
    blocked = set(json.loads((root / "policies/data/pii.json").read_text())["blocked_entities"])
    assert not blocked & set(sections["pii"].data["counts_by_type"])
    candidate = root / PART / "sites.csv"
    written = [
        p
        for p in root.rglob("*")
        if p.is_file() and p != candidate and "policies" not in p.relative_to(root).parts
    ]
    assert any("mcp" in p.relative_to(root).parts for p in written)
    values = [v for vs in planted.values() for v in vs]
    for path in written:
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        leaked = [v for v in values if v in text]
        assert not leaked, f"{path.relative_to(root)} holds {len(leaked)} seeded value(s)"


def _gate_with_broken_policy(root: Path, relpath: str, edit: Any) -> Any:
    """Edit one council file (``edit`` changes its JSON in place), then gate 20 seeded rows."""
    path = root / relpath
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    rows, _ = seeded_sites(rows=20)
    return _gate(root).evaluate(
        dump(make_request(root, content=to_csv(rows).encode(), name="sites.csv"))
    )


def test_misspelled_expectation_gives_error(root: Path) -> None:
    def misspell(doc: dict[str, Any]) -> None:
        doc["expectations"][3]["type"] = "expect_column_values_to_be_uniqe"

    run = _gate_with_broken_policy(root, "policies/quality/historic_sites.json", misspell)
    assert run.decision.outcome == "error"
    assert "expect_column_values_to_be_uniqe" in (run.decision.error or "")


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00",
        "site_id,notes\nHS-1,caf\xe9\n".encode("latin-1"),
        b"",
        b"site_id,notes\n",
        b"site_id,notes\nHS-1,a,b\n",
    ],
    ids=["binary", "latin1", "empty", "header_only", "ragged"],
)
def test_bad_input_blocks(root: Path, content: bytes) -> None:
    run = _gate(root).evaluate(dump(make_request(root, content=content, name="sites.csv")))
    assert run.decision.outcome == "error"
    assert run.decision.error


def test_bad_identifier_pattern_gives_error(root: Path) -> None:
    def too_lax(doc: dict[str, Any]) -> None:
        doc["identifier_patterns"]["historic_sites"]["site_id"] = "[^@ ]+"

    run = _gate_with_broken_policy(root, "policies/data/pii.json", too_lax)
    assert run.decision.outcome == "error"
    assert "identifier_patterns" in (run.decision.error or "")


def test_declared_identifiers_are_skipped_in_a_gate_run(root: Path) -> None:
    rows, _ = seeded_sites(rows=40)
    for i, row in enumerate(rows):
        row["site_id"] = f"hs-20045-20261101-{i + 1:04d}"
    rows[7]["site_id"] = "jane.roe@example.org"
    run = _gate(root).evaluate(
        dump(make_request(root, content=to_csv(rows).encode(), name="sites.csv"))
    )
    assert run.decision.outcome != "error", run.decision.error
    pii = run.evidence.sections["pii"].data
    assert pii["identifier_cells_skipped"] == {"feature_id": 0, "site_id": 39}
    in_ids = [
        (f["entity_type"], f["cells"], f["rows"])
        for f in pii["findings"]
        if f["column"] == "site_id"
    ]
    assert in_ids == [("EMAIL_ADDRESS", 1, [7])]
    assert run.decision.outcome == "deny"
    assert "PII_IN_PUBLIC_VIEW" in {v.code for v in run.decision.violations}
