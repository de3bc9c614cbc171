"""Concurrency (issue #12): processes gating the same partition, and many partitions at once.

Each worker is a separate Python process (``spawn``) building the project's default gate
with its recorder (PROV, OpenLineage, ledger) over one shared scratch repository. A process
that finds a partition being gated by another gets :class:`~kfm_gate.errors.LockError` at
once (``layout.run_lock``: the CLI exits 2 saying so; nothing is recorded for it) or, once
the other finished, the recorded decision. Afterwards: one decision per partition, one ledger
entry per decision, the ledger verifies, no entry lost or duplicated, no temporary file left,
and every partition gated again reuses its decision.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SITES, dump, make_request, scratch_repo

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 3)
KEY = "concurrency-suite-masking-key-0123456789abcdef"


def _requests(root: Path, days: list[int]) -> list[bytes]:
    out = []
    for day in days:
        doc = make_request(root, content=SITES, params={"day": day})
        time_key = f"2026-10-{day:02d}"
        path = doc["outputs"][0]["path"].replace("2026-11-01", time_key)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(SITES)
        doc["partition"]["time_key"] = time_key
        doc["outputs"][0]["path"] = path
        out.append(dump(doc))
    return out


def _gate_many(root: str, requests: list[bytes], seed: int) -> list[dict[str, Any]]:
    """Worker process: gate ``requests`` (in a shuffled order) with the default gate."""
    import os

    os.environ["KFM_MASK_KEY"] = KEY
    from kfm_gate.runtime import build_default_gate

    order = list(requests)
    random.Random(seed).shuffle(order)
    from kfm_gate.errors import LockError

    gate = build_default_gate(Path(root), as_of=AS_OF)
    out: list[dict[str, Any]] = []
    try:
        for raw in order:
            try:
                run = gate.evaluate(raw)
            except LockError:
                out.append({"locked": True})
                continue
            out.append(
                {
                    "run_id": run.decision.run_id,
                    "decision_id": run.decision.decision_id,
                    "outcome": run.decision.outcome,
                    "reused": run.reused,
                    "error": run.decision.error,
                    "locked": False,
                }
            )
    finally:
        gate.close()
    return out


def _pool(n: int) -> Any:
    return multiprocessing.get_context("spawn").Pool(n)


def _check_repository(root: Path, decisions: int) -> None:
    from kfm_gate.provenance import Ledger

    report = Ledger(root / "mcp/ledger.jsonl").verify()
    assert report.ok, report.render_text()
    lines = (root / "mcp/ledger.jsonl").read_text().splitlines()
    assert len(lines) == decisions  # one entry per decision: nothing lost, nothing twice
    seqs = [json.loads(line)["entry"]["seq"] for line in lines]
    assert sorted(seqs) == list(range(1, decisions + 1))
    folders = [
        p for p in (root / "mcp/runs").iterdir() if p.is_dir() and not p.name.startswith(".")
    ]
    assert len([p for p in folders if (p / "decision.json").is_file()]) == decisions
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.name.endswith((".tmp", ".stg"))]
    assert leftovers == []


def test_processes_gating_the_same_partition_record_one_decision(tmp_path: Path) -> None:
    root = scratch_repo(tmp_path)
    raw = _requests(root, [1])
    with _pool(4) as pool:
        results = [
            r
            for batch in pool.starmap(_gate_many, [(str(root), raw, s) for s in range(4)])
            for r in batch
        ]
    assert len(results) == 4
    done = [r for r in results if not r["locked"]]
    assert done and {r["run_id"] for r in done} == {done[0]["run_id"]}
    assert {r["decision_id"] for r in done} == {done[0]["decision_id"]}
    assert done[0]["outcome"] == "allow", done[0]["error"]
    assert sum(not r["reused"] for r in done) == 1  # decided once, reused by the others
    _check_repository(root, decisions=1)
    again = _gate_many(str(root), raw, 0)
    assert again[0]["reused"] and again[0]["decision_id"] == done[0]["decision_id"]


def test_many_partitions_at_once(tmp_path: Path) -> None:
    root = scratch_repo(tmp_path)
    raw = _requests(root, list(range(1, 13)))
    with _pool(4) as pool:
        batches = pool.starmap(_gate_many, [(str(root), raw, s) for s in range(4)])
    results = [r for batch in batches for r in batch]
    assert len(results) == 4 * 12
    done = [r for r in results if not r["locked"]]
    by_run: dict[str, set[str]] = {}
    for r in done:
        by_run.setdefault(r["run_id"], set()).add(r["decision_id"])
        assert r["outcome"] == "allow", r["error"]
    assert all(len(ids) == 1 for ids in by_run.values())
    assert sum(not r["reused"] for r in done) == len(by_run)  # each decided once
    # every partition gated again: all 12 decided exactly once, nothing recomputed
    again = _gate_many(str(root), raw, 0)
    assert all(r["reused"] for r in again) and len({r["run_id"] for r in again}) == 12
    for r in again:
        assert by_run.get(r["run_id"], {r["decision_id"]}) == {r["decision_id"]}
    _check_repository(root, decisions=12)
