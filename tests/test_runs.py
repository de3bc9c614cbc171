"""The run store: every outcome recorded all or nothing, errors as attempts, typed reads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from rdflib import Graph

from kfm_gate.errors import InputError
from kfm_gate.layout import Layout
from kfm_gate.provenance import Ledger
from kfm_gate.provenance.shapes import validate_prov
from kfm_gate.runs import RecordedRun, RunStore
from kfm_gate.samples import sample_draft


def _tree(root: Path, under: str) -> dict[str, bytes]:
    base = root / under
    return (
        {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(base.rglob("*"))
            if p.is_file() and ".locks" not in p.parts and ".staging" not in p.parts
        }
        if base.exists()
        else {}
    )


@pytest.mark.parametrize("outcome", ["allow", "deny", "quarantine", "error"])
def test_every_outcome_leaves_valid_records_and_publishes_nothing(
    tmp_path: Path, outcome: str
) -> None:
    store = RunStore(Layout(tmp_path))
    recorded = store.record(sample_draft(outcome))
    run_dir = recorded.run.folder
    assert (run_dir.parent.name == "attempts") == (outcome == "error")
    g = Graph().parse(run_dir / "prov.ttl", format="turtle")
    assert validate_prov(g).conforms
    end = "02-FAIL.json" if outcome == "error" else "02-COMPLETE.json"
    event = json.loads((run_dir / "openlineage" / end).read_text())
    assert event["run"]["facets"]["kfm_decision"]["outcome"] == outcome
    assert Ledger(tmp_path / "mcp" / "ledger.jsonl").verify().ok
    assert recorded.ledger is not None and recorded.ledger["appended"] is True
    assert not (tmp_path / "data").exists()  # the gate's recording never touches data/
    assert (run_dir / "public.json").is_file() == (outcome == "allow")


def test_a_recorded_run_reads_back_typed(tmp_path: Path) -> None:
    draft = sample_draft("allow")
    store = RunStore(Layout(tmp_path))
    run = store.record(draft).run
    assert run.decision == draft.decision
    assert run.request == draft.request
    assert run.evidence == draft.evidence
    assert run.flags == draft.flags
    assert run.policy_inputs == draft.policy_inputs
    assert run.public_view == draft.public_view
    assert (
        run.receipt is not None and run.receipt["entry"]["decision_id"] == run.decision.decision_id
    )
    assert store.find(draft.decision.run_id).folder == run.folder
    assert store.find(draft.decision.decision_id).folder == run.folder
    assert store.find(run.folder.name[:20]).folder == run.folder
    with pytest.raises(InputError, match="no run"):
        store.find("run_nothing")


def test_rerun_is_byte_identical_and_not_relogged(tmp_path: Path) -> None:
    store = RunStore(Layout(tmp_path))
    store.record(sample_draft("allow"))
    before = _tree(tmp_path, "mcp")
    again = store.record(sample_draft("allow"))
    assert _tree(tmp_path, "mcp") == before
    assert again.ledger is not None and again.ledger["appended"] is False
    assert again.commit.changed == []


def test_an_error_never_replaces_the_decision(tmp_path: Path) -> None:
    store = RunStore(Layout(tmp_path))
    allow = sample_draft("allow")
    store.record(allow)
    top = _tree(tmp_path, "mcp/runs")
    error = dataclasses.replace(
        sample_draft("error"),
        decision=sample_draft("error").decision.model_copy(update={}),
    )
    recorded = store.record(error)
    assert recorded.run.attempt is not None
    current = store.current(allow.decision.run_id)
    assert current is not None and current.decision == allow.decision
    after = _tree(tmp_path, "mcp/runs")
    assert {k: v for k, v in after.items() if "/attempts/" not in k} == top
    found, why = store.reusable(allow.decision.run_id, allow.decision.request_digest)
    assert found is not None and why == "reused"


def test_a_later_decision_keeps_the_earlier_one_as_an_attempt(tmp_path: Path) -> None:
    store = RunStore(Layout(tmp_path))
    allow = sample_draft("allow")
    store.record(allow)
    # the same run id denied later (e.g. another day): the allow and its view are kept aside
    deny = sample_draft("deny")
    assert deny.decision.run_id == allow.decision.run_id
    store.record(deny)
    run_dir = Layout(tmp_path).run_dir(allow.decision.run_id)
    assert json.loads((run_dir / "decision.json").read_text())["outcome"] == "deny"
    assert not (run_dir / "public.json").exists() and not (run_dir / "public").exists()
    [kept] = store.attempts(allow.decision.run_id)
    assert kept.decision == allow.decision
    assert kept.public_view == allow.public_view
    assert (
        kept.file("prov.ttl").read_bytes() == store.record(allow).run.file("prov.ttl").read_bytes()
    )
    assert Ledger(tmp_path / "mcp" / "ledger.jsonl").verify().ok


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b.replace(b'"deny"', b'"allow"'),  # edited
        lambda b: b"[]",  # not a decision
    ],
)
def test_a_damaged_decision_is_never_reused(tmp_path: Path, damage: object) -> None:
    store = RunStore(Layout(tmp_path))
    deny = sample_draft("deny")
    run = store.record(deny).run
    path = run.file("decision.json")
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    found, why = store.reusable(deny.decision.run_id, deny.decision.request_digest)
    assert found is None and "deciding again" in why
    assert store.current(deny.decision.run_id) is None


def test_a_decision_of_another_request_is_not_reused(tmp_path: Path) -> None:
    store = RunStore(Layout(tmp_path))
    allow = sample_draft("allow")
    store.record(allow)
    found, why = store.reusable(allow.decision.run_id, "sha256:" + "9" * 64)
    assert found is None and "not on" in why


def test_recorded_public_view_is_checked_against_its_checksums(tmp_path: Path) -> None:
    from kfm_gate.errors import RecordError

    run = RunStore(Layout(tmp_path)).record(sample_draft("allow")).run
    assert run.public_view is not None
    [csv, geo] = run.public_view.files
    run.public_file(geo)
    (run.folder / "public" / geo.name).write_bytes(b'{"features":[]}')
    with pytest.raises(RecordError, match="does not match its checksum"):
        run.public_file(geo)
    assert isinstance(run, RecordedRun) and csv.name == "sites.csv"
