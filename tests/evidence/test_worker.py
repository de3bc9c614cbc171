"""The quality worker process: same evidence as in-process, fails closed, starts early only
when the obligations cannot change what the suite reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, ConfigError
from kfm_gate.evidence import PiiCollector, QualityCollector, RedactionEngine, SecretsCollector
from kfm_gate.evidence import worker as worker_module
from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector
from kfm_gate.evidence.quality import QualitySuite
from kfm_gate.evidence.worker import QualityWorker, worker_enabled
from kfm_gate.gate import build_gate
from tests.evidence.conftest import REPO, seeded_sites, to_csv
from tests.helpers import dump, make_request, scratch_repo

AS_OF = dt.date(2026, 11, 25)
SUITE = REPO / "policies/quality/historic_sites.json"


def _faulty_rows() -> list[dict[str, Any]]:
    rows, _ = seeded_sites(rows=60)
    rows[3]["site_type"] = "castle"
    rows[5]["site_id"] = rows[6]["site_id"]
    rows[7]["period_start"] = "about 1850"
    rows[8]["lat"] = 45.0
    return rows


def test_worker_gives_the_in_process_evidence(make_ctx: Callable[..., GateContext]) -> None:
    ctx = make_ctx({"sites.csv": to_csv(_faulty_rows())}, dataset="historic_sites")
    local = QualityCollector(process=False)
    assert local.start(ctx) is None  # in-process: the gate calls collect
    pending = QualityCollector(process=True).start(ctx)
    assert pending is not None
    remote = pending.result(timeout=120)
    assert remote.data == local.collect(ctx).data
    assert remote.data["success"] is False
    assert remote.data["statistics"]["unsuccessful"] >= 3


def test_worker_errors_read_like_in_process_ones(make_ctx: Callable[..., GateContext]) -> None:
    ragged = "site_id,name\nA-1,Fort\nA-2,Mill,extra\n"
    ctx = make_ctx({"sites.csv": ragged}, dataset="historic_sites")
    with pytest.raises(CollectorError) as local:
        QualityCollector(process=False).collect(ctx)
    pending = QualityCollector(process=True).start(ctx)
    assert pending is not None
    with pytest.raises(CollectorError) as remote:
        pending.result(timeout=120)
    assert str(remote.value) == str(local.value)
    assert "ragged" in str(remote.value)


def test_suite_changed_under_the_gate_is_an_error(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    rows, _ = seeded_sites(rows=10)
    ctx = make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites", policy_dir=policy_copy)
    collector = QualityCollector(process=True)
    job_suite = collector.suite_path(ctx)
    original = job_suite.read_text(encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        # the suite is edited between the gate reading it and the worker reading it
        real_submit = QualityWorker.submit

        def submit(self: QualityWorker, job: dict[str, Any]) -> Any:
            job_suite.write_text(original.replace('"min_value": 1}', '"min_value": 2}'), "utf-8")
            return real_submit(self, job)

        mp.setattr(QualityWorker, "submit", submit)
        pending = collector.start(ctx)
    assert pending is not None
    with pytest.raises(CollectorError, match="changed while the gate was running"):
        pending.result(timeout=120)


def _fake_worker(monkeypatch: pytest.MonkeyPatch, script: str) -> QualityWorker:
    """A worker whose process runs ``script`` instead of the real server."""
    worker = QualityWorker()

    def start(self: QualityWorker) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    monkeypatch.setattr(QualityWorker, "_start", start)
    return worker


def test_a_dying_worker_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = _fake_worker(monkeypatch, "import sys; sys.stdin.readline(); sys.exit(3)")
    try:
        future = worker.submit({"job": 1})
        with pytest.raises(CollectorError, match="exited with code 3"):
            future.result(timeout=60)
        # the next job starts a fresh process (which dies the same way here)
        with pytest.raises(CollectorError, match="exited with code 3"):
            worker.submit({"job": 2}).result(timeout=60)
    finally:
        worker.close()


def test_nonsense_from_the_worker_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    script = "import sys; sys.stdin.readline(); print('not json', flush=True); sys.stdin.read()"
    worker = _fake_worker(monkeypatch, script)
    try:
        with pytest.raises(CollectorError, match="invalid JSON"):
            worker.submit({"job": 1}).result(timeout=60)
    finally:
        worker.close()


def test_a_stuck_worker_times_out_and_blocks_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = _fake_worker(monkeypatch, "import sys, time; sys.stdin.readline(); time.sleep(60)")
    monkeypatch.setattr(worker_module, "shared_worker", lambda: worker)
    root = scratch_repo(tmp_path)
    gate = build_gate(
        root,
        as_of=AS_OF,
        aoi_ids=frozenset({"ks-county-20045"}),
        collectors=(ChecksumCollector(), PlacementCollector(), QualityCollector(process=True)),
    )
    gate.settings = dataclasses.replace(gate.settings, collector_timeout_s=1.0)
    rows, _ = seeded_sites(rows=10)
    content = to_csv(rows).encode("utf-8")
    try:
        run = gate.evaluate(dump(make_request(root, content=content, name="sites.csv")))
        assert run.decision.outcome == "error"
        assert "quality did not finish within 1 s" in (run.decision.error or "")
        assert worker._proc is None or worker._proc.poll() is not None  # killed
    finally:
        worker.close()
        gate.close()


def test_worker_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(worker_module.ENV_SWITCH, raising=False)
    assert worker_enabled() is True
    monkeypatch.setenv(worker_module.ENV_SWITCH, "off")
    assert worker_enabled() is False
    monkeypatch.setenv(worker_module.ENV_SWITCH, " ON ")
    assert worker_enabled() is True
    assert worker_enabled(True) is True
    assert worker_enabled(False) is False


@pytest.mark.parametrize("value", ["of", "0", "no", "false", "", "disabled"])
def test_a_wrong_worker_switch_is_an_error_not_a_default(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(worker_module.ENV_SWITCH, value)
    with pytest.raises(ConfigError, match="neither on nor off"):
        worker_enabled()
    with pytest.raises(ConfigError, match="true or false"):
        worker_enabled("yes")


def test_suite_independence() -> None:
    suite = QualityCollector().load_suite(SUITE)
    assert suite.independent_of(frozenset({"notes", "recorder_contact"}))
    assert suite.independent_of(frozenset())
    assert not suite.independent_of(frozenset({"site_type"}))
    assert not suite.independent_of(frozenset({"period_end"}))  # column_A of a pair
    assert not suite.independent_of(frozenset({"lon"}))  # a typed column

    def with_extra(exp: dict[str, Any]) -> QualitySuite:
        return dataclasses.replace(suite, expectations=(*suite.expectations, exp))

    notes = frozenset({"notes"})
    conditioned = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "name", "row_condition": 'notes=="x"'},
        "meta": {},
    }
    assert not with_extra(conditioned).independent_of(notes)
    table_level = {"type": "expect_table_row_count_to_equal_other_table", "kwargs": {}, "meta": {}}
    assert not with_extra(table_level).independent_of(notes)
    listed = {
        "type": "expect_compound_columns_to_be_unique",
        "kwargs": {"column_list": ["name", "notes"]},
        "meta": {},
    }
    assert not with_extra(listed).independent_of(notes)


def _gate(root: Path, *, process: bool) -> Any:
    return build_gate(
        root,
        as_of=AS_OF,
        force=True,
        aoi_ids=frozenset({"ks-county-20045"}),
        collectors=(
            ChecksumCollector(),
            PlacementCollector(),
            QualityCollector(process=process),
            PiiCollector(ner=False),
            SecretsCollector(),
        ),
        obligation_engines=(RedactionEngine(ner=False),),
    )


def test_early_start_beside_redaction_gives_the_same_run(tmp_path: Path) -> None:
    """The suite starts before the redaction (it reads none of the redacted columns) and the
    run is byte-for-byte the one of an in-process suite after the redaction."""
    rows, _ = seeded_sites(rows=120)
    rows[4]["site_type"] = "castle"  # one failed expectation, so the details are compared too
    content = to_csv(rows).encode("utf-8")
    runs = {}
    for process in (False, True):
        base = tmp_path / ("worker" if process else "in-process")
        base.mkdir()
        root = scratch_repo(base)
        gate = _gate(root, process=process)
        started: list[str] = []
        real = gate._start_early

        def spy(ctx: GateContext, real: Any = real, started: list[str] = started) -> Any:
            early = real(ctx)
            started.extend(early)
            return early

        gate._start_early = spy
        run = gate.evaluate(dump(make_request(root, content=content, name="sites.csv")))
        gate.close()
        assert run.decision.outcome != "error", run.decision.error
        assert started == (["quality"] if process else [])
        codes = [a["code"] for a in run.evidence.sections["obligations"].data["applied"]]
        assert "REDACT_FREE_TEXT" in codes
        runs[process] = (
            run.decision.to_json_dict(),
            (run.run_dir / "evidence.json").read_bytes(),
        )
    assert runs[True] == runs[False]
