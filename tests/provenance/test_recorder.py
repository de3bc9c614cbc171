"""record_run: records for every outcome, idempotent re-runs, nothing half published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import Graph

from kfm_gate.errors import RecordError
from kfm_gate.provenance import Ledger, record_run
from kfm_gate.provenance.samples import sample_record
from kfm_gate.provenance.shapes import validate_prov
from kfm_gate.provenance.staging import JOURNAL, StagedWrites, recover_publication


def _tree(root: Path, under: str) -> dict[str, bytes]:
    base = root / under
    return (
        {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }
        if base.exists()
        else {}
    )


@pytest.mark.parametrize("outcome", ["allow", "deny", "quarantine", "error"])
def test_every_outcome_leaves_valid_records(tmp_path: Path, outcome: str) -> None:
    record = sample_record(outcome)
    result = record_run(record, root=tmp_path, promote=outcome == "allow")
    run_dir = tmp_path / result["run_dir"]
    g = Graph().parse(run_dir / "prov.ttl", format="turtle")
    assert validate_prov(g).conforms
    end = "02-FAIL.json" if outcome == "error" else "02-COMPLETE.json"
    assert (run_dir / "openlineage" / "01-START.json").exists()
    assert (
        json.loads((run_dir / "openlineage" / end).read_text())["run"]["facets"]["kfm_decision"][
            "outcome"
        ]
        == outcome
    )
    assert Ledger(tmp_path / "mcp" / "ledger.jsonl").verify().ok
    published = _tree(tmp_path, "data")
    assert bool(published) == (outcome == "allow")


def test_collector_crash_is_recorded_as_error(tmp_path: Path) -> None:
    record = sample_record("error")  # evidence section 'secrets' has status error
    assert record.evidence.sections["secrets"].status == "error"
    record_run(record, root=tmp_path, promote=False)
    g = Graph().parse(tmp_path / "mcp" / "runs" / record.folder / "prov.ttl", format="turtle")
    report = validate_prov(g)
    assert report.conforms, report.text
    assert (
        b"collector crashed"
        in (tmp_path / "mcp" / "runs" / record.folder / "prov.ttl").read_bytes()
    )


def test_promoting_a_denial_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="only 'allow'"):
        record_run(sample_record("deny"), root=tmp_path, promote=True)
    assert not (tmp_path / "data").exists()


def test_rerun_is_byte_identical_and_not_relogged(tmp_path: Path) -> None:
    record = sample_record("allow")
    record_run(record, root=tmp_path, promote=True)
    before = {**_tree(tmp_path, "data"), **_tree(tmp_path, "mcp")}
    again = record_run(record, root=tmp_path, promote=True)
    after = {**_tree(tmp_path, "data"), **_tree(tmp_path, "mcp")}
    assert before == after
    assert again["ledger"]["appended"] is False
    assert again["graph_added"] == 0 and again["changed"] == []


def test_failed_staging_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staged = StagedWrites(tmp_path)
    staged.add(tmp_path / "data" / "stac" / "a.json", b"a")
    staged.add(tmp_path / "data" / "stac" / "b.json", b"b")
    import os

    real_fsync = os.fsync
    calls = {"n": 0}

    def flaky(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(5, "I/O error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky)
    with pytest.raises(RecordError, match="nothing was published"):
        staged.commit()
    assert not any(p.is_file() for p in (tmp_path / "data").rglob("*"))


def test_interrupted_renames_are_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staged = StagedWrites(tmp_path)
    targets = [tmp_path / "data" / "stac" / f"{n}.json" for n in "abc"]
    for t in targets:
        staged.add(t, t.name.encode())
    real = Path.replace
    calls = {"n": 0}

    def crash(self: Path, target: Path) -> Path:
        if self.suffix == ".stg":
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(28, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(RecordError, match="journal"):
        staged.commit()
    assert (tmp_path / JOURNAL).exists()
    monkeypatch.setattr(Path, "replace", real)
    assert recover_publication(tmp_path)
    assert [t.read_bytes() for t in targets] == [b"a.json", b"b.json", b"c.json"]
    assert not (tmp_path / JOURNAL).exists()
    assert not list((tmp_path / "data" / "stac").glob("*.stg"))


def test_interrupted_removals_wait_for_the_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged removals (a graph compaction's segments) happen only after every rename, and an
    interrupted publication finishes both."""
    graph = tmp_path / "data" / "graph"
    graph.mkdir(parents=True)
    old = [graph / "lineage.d" / f"{n}.nt" for n in "xy"]
    for p in old:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(p.name.encode() + b"\n")
    staged = StagedWrites(tmp_path)
    staged.add(graph / "lineage.nt", b"merged\n")
    for p in old:
        staged.remove(p)
    real = Path.replace

    def crash(self: Path, target: Path) -> Path:
        if self.suffix == ".stg":
            raise OSError(28, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(RecordError, match=r"the journal .* is kept"):
        staged.commit()
    assert (tmp_path / JOURNAL).exists()
    assert all(p.exists() for p in old)  # nothing removed before the new base is in place
    assert not (graph / "lineage.nt").exists()
    monkeypatch.setattr(Path, "replace", real)
    assert recover_publication(tmp_path)
    assert (graph / "lineage.nt").read_bytes() == b"merged\n"
    assert not any(p.exists() for p in old)
    assert not (tmp_path / JOURNAL).exists()
