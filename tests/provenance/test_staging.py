"""The publication lock, reused journals and linked PROV copies of staged publications."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import kfm_gate.provenance.staging as staging
from kfm_gate.catalog.dcat import dcat_path
from kfm_gate.provenance import Ledger, record_run
from kfm_gate.provenance.samples import sample_record
from kfm_gate.provenance.staging import (
    JOURNAL,
    LOCK,
    StagedWrites,
    journal_pending,
    publish_lock,
)
from tests.helpers import assert_recorded_unpublished

REPO = Path(__file__).resolve().parents[2]

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
        [sys.executable, "-c", _TRY_LOCK, str(root / LOCK)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_publish_lock_excludes_other_processes(tmp_path: Path) -> None:
    with publish_lock(tmp_path), publish_lock(tmp_path):  # re-entrant within the thread
        assert _try_lock_elsewhere(tmp_path) == "busy"
    assert _try_lock_elsewhere(tmp_path) == "free"


def test_publish_lock_excludes_other_threads(tmp_path: Path) -> None:
    order: list[str] = []
    started = threading.Event()

    def other() -> None:
        started.set()
        with publish_lock(tmp_path):
            order.append("other")

    with publish_lock(tmp_path):
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
from kfm_gate.provenance import record_run
from kfm_gate.provenance.samples import sample_record
root, month = Path(sys.argv[2]), int(sys.argv[3])
for day in range(1, 7):
    record_run(sample_record("allow", aoi="ks-county-20045", day=f"2026-{month:02d}-{day:02d}"),
               root=root, promote=True)
"""


def test_concurrent_publishers_lose_no_item(tmp_path: Path) -> None:
    """Two processes publishing into one collection at once: every item is in the collection
    and the DCAT record, and the ledger holds every decision (no lost update)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, str(REPO), str(tmp_path), str(month)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
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
    dcat = dcat_path(tmp_path, "historic_sites").read_text()
    assert all(href.split("/")[1] in dcat for href in items)
    report = Ledger(tmp_path / "mcp" / "ledger.jsonl").verify()
    assert report.ok and report.entries == 12
    assert not journal_pending(tmp_path)


def test_prov_copies_beside_the_item_are_links(tmp_path: Path) -> None:
    record = sample_record("allow")
    result = record_run(record, root=tmp_path, promote=True)
    run_dir = tmp_path / result["run_dir"]
    item_dir = (tmp_path / result["stac_item"]).parent
    for name in ("prov.ttl", "prov.jsonld"):
        run_copy, item_copy = run_dir / name, item_dir / name
        assert run_copy.read_bytes() == item_copy.read_bytes()
        assert run_copy.stat().st_ino == item_copy.stat().st_ino
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".stg", ".tmp")]


def test_a_refused_link_falls_back_to_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    result = record_run(sample_record("allow"), root=tmp_path, promote=True)
    run_copy = tmp_path / result["run_dir"] / "prov.ttl"
    item_copy = (tmp_path / result["stac_item"]).parent / "prov.ttl"
    assert run_copy.read_bytes() == item_copy.read_bytes()
    assert run_copy.stat().st_ino != item_copy.stat().st_ino


def test_identical_bytes_are_one_file_fsynced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two targets with the same bytes: one temporary written and fsynced (even when the
    caller did not fsync), the other a hard link to it; both targets hold the bytes."""
    staged = StagedWrites(tmp_path)
    run_copy = tmp_path / "mcp" / "runs" / "r" / "prov.ttl"
    item_copy = tmp_path / "data" / "stac" / "c" / "i" / "prov.ttl"
    staged.add(run_copy, b"same bytes")
    staged.add(item_copy, b"same bytes")
    fds = staged.prepare()
    assert len(fds) == 2  # one file and the journal: the other file is a link to it
    synced: list[object] = []
    real = staging.fsync_all

    def spy(items: object) -> None:
        work = list(items)  # type: ignore[call-overload]
        synced.extend(work)
        real(work)

    monkeypatch.setattr(staging, "fsync_all", spy)
    staged.commit()
    assert set(fds) <= set(synced)  # the written temporary (and the journal) fsynced
    assert run_copy.read_bytes() == item_copy.read_bytes() == b"same bytes"
    assert run_copy.stat().st_ino == item_copy.stat().st_ino


def test_an_aborted_set_is_prepared_again_by_commit(tmp_path: Path) -> None:
    staged = StagedWrites(tmp_path)
    target = tmp_path / "data" / "stac" / "x.json"
    staged.add(target, b"x")
    staged.prepare()
    staged.abort()
    assert not target.exists()
    assert staged.commit() == [target.resolve()]
    assert target.read_bytes() == b"x"
    assert not journal_pending(tmp_path)


def test_finished_journals_are_reused(tmp_path: Path) -> None:
    def journal_files() -> dict[str, int]:
        return {
            p.name: p.stat().st_ino
            for p in (tmp_path / "mcp").iterdir()
            if p.name.startswith((".publish-journal", "..publish-journal"))
        }

    record_run(sample_record("allow", day="2026-01-01"), root=tmp_path, promote=True)
    first = journal_files()
    assert set(first) == {".publish-journal.json.spare-0"}
    for day in ("2026-01-02", "2026-01-03"):
        record_run(sample_record("allow", day=day), root=tmp_path, promote=True)
        assert journal_files().keys() == first.keys()
    assert set(journal_files().values()) == set(first.values())  # the same file
    assert not journal_pending(tmp_path)
    assert not (tmp_path / JOURNAL).exists()


def test_a_ledger_failure_keeps_the_run_records_and_publishes_nothing(tmp_path: Path) -> None:
    """The ledger is written before anything of the run is visible; when it fails (here its
    last line is damaged) the run's PROV and OpenLineage are still written, nothing is
    published, and no temporary is left behind."""
    from kfm_gate.errors import LedgerError

    ledger = tmp_path / "mcp" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"not a ledger line\n")
    record = sample_record("allow")
    with pytest.raises(LedgerError, match="ledger verify"):
        record_run(record, root=tmp_path, promote=True)
    run_dir = tmp_path / "mcp" / "runs" / record.folder
    assert (run_dir / "prov.ttl").is_file() and (run_dir / "prov.jsonld").is_file()
    assert sorted(p.name for p in (run_dir / "openlineage").iterdir()) == [
        "01-START.json",
        "02-COMPLETE.json",
    ]
    assert not (run_dir / "ledger-entry.json").exists()
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".stg", ".tmp")]
    assert not journal_pending(tmp_path)


def test_a_publication_that_cannot_be_staged_still_records_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing a catalog file fails (disk full): the run records and the ledger entry are
    written, the error names the publication, nothing of it is visible."""
    from kfm_gate.errors import RecordError

    real = staging.write_temp

    def full_under_data(target: Path, data: bytes, **kw: object) -> tuple[Path, int]:
        if "data" in target.relative_to(tmp_path.resolve()).parts[:1]:
            raise OSError(28, "No space left on device")
        return real(target, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(staging, "write_temp", full_under_data)
    record = sample_record("allow")
    with pytest.raises(RecordError, match="No space left"):
        record_run(record, root=tmp_path, promote=True)
    assert_recorded_unpublished(tmp_path, record.folder)
    monkeypatch.setattr(staging, "write_temp", real)
    again = record_run(record, root=tmp_path, promote=True)  # the re-run publishes
    assert again["stac_item"] and again["ledger"]["appended"] is False
