"""Transactions: the lock, the journal, recovery, reused journals and linked copies."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import kfm_gate.journal as journal
from kfm_gate.errors import LedgerError, PathError, RecordError
from kfm_gate.journal import FileTransactionLock, Transaction, journal_pending, recover
from kfm_gate.layout import JOURNAL, PUBLISH_LOCK, FaultCheckpoints, Layout
from kfm_gate.provenance import Ledger
from kfm_gate.publication import Publisher
from kfm_gate.samples import sample_draft, sample_record
from tests.helpers import assert_recorded_unpublished, record_and_publish, record_draft

REPO = Path(__file__).resolve().parents[1]

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    print("busy")
else:
    print("free")
"""


def _try_lock_elsewhere(root: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(root / PUBLISH_LOCK)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_the_lock_excludes_other_processes(tmp_path: Path) -> None:
    lock = FileTransactionLock(Layout(tmp_path))
    with lock.hold(), lock.hold():  # re-entrant within the thread
        assert _try_lock_elsewhere(tmp_path) == "busy"
    assert _try_lock_elsewhere(tmp_path) == "free"


def test_the_lock_excludes_other_threads(tmp_path: Path) -> None:
    lock = FileTransactionLock(Layout(tmp_path))
    order: list[str] = []
    started = threading.Event()

    def other() -> None:
        started.set()
        with lock.hold():
            order.append("other")

    with lock.hold():
        thread = threading.Thread(target=other)
        thread.start()
        started.wait(10)
        time.sleep(0.2)  # the other thread is blocked on the lock meanwhile
        order.append("first")
    thread.join(10)
    assert order == ["first", "other"]


_PUBLISHER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from kfm_gate.samples import sample_draft
from tests.helpers import record_and_publish
root, month = Path(sys.argv[2]), int(sys.argv[3])
for day in range(1, 7):
    record_and_publish(
        sample_draft("allow", aoi="ks-county-20045", day=f"2026-{month:02d}-{day:02d}"), root
    )
"""


def test_concurrent_publishers_lose_no_item(tmp_path: Path) -> None:
    """Two processes recording and publishing into one collection at once: every item is in
    the collection and the DCAT record, and the ledger holds every decision and publication."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, str(REPO), str(tmp_path), str(month)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        for month in (1, 2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    collection_dir = tmp_path / "data" / "stac" / "historic_sites"
    collection = json.loads((collection_dir / "collection.json").read_text())
    items = sorted(link["href"] for link in collection["links"] if link["rel"] == "item")
    assert len(items) == 12
    assert len(list(collection_dir.glob("*/item.json"))) == 12
    dcat = Layout(tmp_path).dcat_path("historic_sites").read_text()
    assert all(href.split("/")[1] in dcat for href in items)
    report = Ledger(tmp_path / "mcp" / "ledger.jsonl").verify()
    assert report.ok and report.entries == 24
    assert not journal_pending(tmp_path)


def test_prov_copies_beside_the_item_are_links_to_the_records(tmp_path: Path) -> None:
    done = record_and_publish(sample_draft("allow"), tmp_path)
    run_dir = Layout(tmp_path).run_dir(sample_record("allow").run_id)
    item_dir = (tmp_path / done.stac_item).parent
    for name in ("prov.ttl", "prov.jsonld"):
        run_copy, item_copy = run_dir / name, item_dir / name
        assert run_copy.read_bytes() == item_copy.read_bytes()
        assert run_copy.stat().st_ino == item_copy.stat().st_ino
    public = tmp_path / done.state.public_files[0]["path"]
    assert public.stat().st_ino == (run_dir / "public" / public.name).stat().st_ino
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".stg", ".tmp")]
    assert not any((tmp_path / "mcp" / ".staging").iterdir())


def test_a_refused_link_falls_back_to_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    record_draft(sample_draft("allow"), tmp_path)
    monkeypatch.setattr(os, "link", no_links)
    draft = sample_draft("allow")
    assert draft.request is not None
    done = Publisher(Layout(tmp_path)).publish(draft.request, draft.decision.run_id)
    run_copy = Layout(tmp_path).run_dir(draft.decision.run_id) / "prov.ttl"
    item_copy = (tmp_path / done.stac_item).parent / "prov.ttl"
    assert run_copy.read_bytes() == item_copy.read_bytes()
    assert run_copy.stat().st_ino != item_copy.stat().st_ino


def test_identical_bytes_are_one_file(tmp_path: Path) -> None:
    txn = Transaction(Layout(tmp_path))
    run_copy = tmp_path / "mcp" / "runs" / "r" / "prov.ttl"
    item_copy = tmp_path / "data" / "stac" / "c" / "i" / "prov.ttl"
    txn.put(run_copy, b"same bytes")
    txn.put(item_copy, b"same bytes")
    assert txn.commit().changed == sorted([run_copy.resolve(), item_copy.resolve()])
    assert run_copy.read_bytes() == item_copy.read_bytes() == b"same bytes"
    assert run_copy.stat().st_ino == item_copy.stat().st_ino
    assert Transaction(Layout(tmp_path)).commit().changed == []  # nothing: no journal either


def test_unchanged_files_are_not_rewritten_and_nothing_is_journaled(tmp_path: Path) -> None:
    target = tmp_path / "data" / "stac" / "x.json"
    txn = Transaction(Layout(tmp_path))
    txn.put(target, b"x")
    txn.commit()
    inode = target.stat().st_ino
    again = Transaction(Layout(tmp_path))
    again.put(target, b"x")
    assert again.changes() == [] and again.commit().changed == []
    assert target.stat().st_ino == inode


def test_finished_journals_are_reused(tmp_path: Path) -> None:
    spare = tmp_path / "mcp" / ".journal.spare"
    record_and_publish(sample_draft("allow", day="2026-01-01"), tmp_path)
    inode = spare.stat().st_ino
    for day in ("2026-01-02", "2026-01-03"):
        record_and_publish(sample_draft("allow", day=day), tmp_path)
        assert spare.stat().st_ino == inode  # the same file, renamed back and forth
    assert not journal_pending(tmp_path)
    assert not (tmp_path / JOURNAL).exists()


def test_interrupted_renames_are_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    targets = [tmp_path / "data" / "stac" / f"{n}.json" for n in "abc"]
    txn = Transaction(Layout(tmp_path))
    for t in targets:
        txn.put(t, t.name.encode())
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
        txn.commit()
    assert (tmp_path / JOURNAL).exists()
    monkeypatch.setattr(Path, "replace", real)
    assert recover(Layout(tmp_path))
    assert [t.read_bytes() for t in targets] == [b"a.json", b"b.json", b"c.json"]
    assert not (tmp_path / JOURNAL).exists()
    assert not any((tmp_path / "mcp" / ".staging").iterdir())


def test_interrupted_removals_wait_for_the_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removals (a graph compaction's segments) happen only after every rename, and an
    interrupted transaction finishes both."""
    graph = tmp_path / "data" / "graph"
    old = [graph / "lineage.d" / f"{n}.nt" for n in "xy"]
    for p in old:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(p.name.encode() + b"\n")
    txn = Transaction(Layout(tmp_path))
    txn.put(graph / "lineage.nt", b"merged\n")
    for p in old:
        txn.remove(p)
    real = Path.replace

    def crash(self: Path, target: Path) -> Path:
        if self.suffix == ".stg":
            raise OSError(28, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(RecordError, match=r"the journal .* is kept|it is kept"):
        txn.commit()
    assert (tmp_path / JOURNAL).exists()
    assert all(p.exists() for p in old)  # nothing removed before the new base is in place
    assert not (graph / "lineage.nt").exists()
    monkeypatch.setattr(Path, "replace", real)
    assert recover(Layout(tmp_path))
    assert (graph / "lineage.nt").read_bytes() == b"merged\n"
    assert not any(p.exists() for p in old)


def test_a_damaged_ledger_stops_the_transaction_before_anything_is_written(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "mcp" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"not a ledger line\n")
    with pytest.raises(LedgerError, match="ledger verify"):
        record_draft(sample_draft("allow"), tmp_path)
    assert not (tmp_path / "mcp" / "runs").exists()
    assert not journal_pending(tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".stg", ".tmp")]


def test_a_publication_that_cannot_be_staged_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing a catalog file fails (disk full): the run records and the decision's ledger
    entry (written by the gate before) stay, nothing of the publication is visible, and a
    re-run publishes."""
    real = journal.write_temp

    def full_under_data(target: Path, data: bytes, **kw: object) -> tuple[Path, int]:
        if target.resolve().relative_to(tmp_path.resolve()).parts[0] == "data":
            raise OSError(28, "No space left on device")
        return real(target, data, **kw)  # type: ignore[arg-type]

    draft = sample_draft("allow")
    assert draft.request is not None
    record_draft(draft, tmp_path)
    monkeypatch.setattr(journal, "write_temp", full_under_data)
    with pytest.raises(RecordError, match="No space left"):
        Publisher(Layout(tmp_path)).publish(draft.request, draft.decision.run_id)
    assert_recorded_unpublished(tmp_path, sample_record("allow").folder)
    monkeypatch.setattr(journal, "write_temp", real)
    again = Publisher(Layout(tmp_path)).publish(draft.request, draft.decision.run_id)
    assert again.published and again.ledger is not None and again.ledger["appended"] is True


def test_a_target_behind_a_link_out_of_the_roots_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "mcp").mkdir()
    (tmp_path / "mcp" / "runs").symlink_to(outside)
    with pytest.raises(PathError):
        record_draft(sample_draft("deny"), tmp_path)
    assert not any(outside.iterdir())


@pytest.mark.parametrize("step", ["stage", "commit", "ledger line", "write", "rename", "retire"])
def test_disk_full_at_any_step_converges_after_a_plain_rerun(tmp_path: Path, step: str) -> None:
    """ENOSPC injected at the first step of each kind: before the commit point nothing is
    visible; after it the journal finishes; either way a plain re-run gives the bytes of a
    clean run and a ledger that verifies."""
    clean = tmp_path / "clean"
    record_and_publish(sample_draft("allow"), clean)
    faulty = tmp_path / "faulty"
    layout = Layout(faulty, checkpoints=_First(step))
    from kfm_gate.runs import RunStore

    draft = sample_draft("allow")
    assert draft.request is not None
    with contextlib.suppress(RecordError):
        RunStore(layout).record(draft)
    recover(Layout(faulty))
    assert Ledger(faulty / "mcp" / "ledger.jsonl").verify().ok
    record_and_publish(draft, faulty)
    assert _tree(faulty) == _tree(clean)


class _First:
    """ENOSPC at the first step starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.fired = False

    def reached(self, step: str) -> None:
        if not self.fired and step.startswith(self.prefix):
            self.fired = True
            raise OSError(28, f"No space left on device (injected at {step})")


def _tree(root: Path) -> dict[str, bytes]:
    skip = (".locks", ".staging")
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not any(s in p.parts for s in skip)
        and p.name not in (".journal.spare", ".publish.lock", "ledger.jsonl.lock")
    }


def test_fault_checkpoints_name_steps_and_count(tmp_path: Path) -> None:
    log = tmp_path / "steps.txt"
    checkpoints = FaultCheckpoints(None, None, log)
    record_draft_with = Layout(tmp_path / "repo", checkpoints=checkpoints)
    from kfm_gate.runs import RunStore

    RunStore(record_draft_with).record(sample_draft("deny"))
    steps = log.read_text().splitlines()
    assert steps[0].startswith("stage mcp/runs/") and "commit mcp/.journal.json" in steps
    assert "ledger line mcp/ledger.jsonl" in steps and steps[-1] == "retire mcp/.journal.json"
    assert checkpoints.count == len(steps)
