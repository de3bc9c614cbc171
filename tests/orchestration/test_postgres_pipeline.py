"""The pipeline on a Dagster instance in PostgreSQL (slow; the server of tools/postgres.sh).

1. In-process runs (the runner) on a 2x2 slice: denied partitions are never published.
2. The daemon, a QueuedRunCoordinator (max_concurrent_runs 2) and the ``kfm/aoi`` tag limit
   (one run per AOI at a time): the source sensor launches every partition run; no two runs
   of one AOI ever overlap, while runs of different AOIs do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.orchestration.instance import AOI_TAG, open_instance, postgres_dagster_yaml
from tests.orchestration.conftest import ALLOW_AOI, DAYS, DENY_AOI
from tests.orchestration.test_dagster_dev import _stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:Specifying a partitions_def on an AssetCheckSpec:dagster.PreviewWarning"
    ),
]
MODULE = "kfm_gate.orchestration.definitions"


def _pg_home(tmp_path: Path, postgres_url: str, **limits: int) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    url = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    (home / "dagster.yaml").write_text(postgres_dagster_yaml(url, **limits), encoding="utf-8")
    return home


def _release(repo: Path, aoi: str, day: str) -> Path:
    return repo / "data/processed/survey/historic_sites" / aoi / day / "release.json"


def test_pipeline_on_postgres_never_publishes_a_denied_partition(
    tmp_path: Path, repo: Path, postgres_url: str
) -> None:
    import dagster as dg
    import psycopg

    from kfm_gate.orchestration.assets import PUBLISHED_KEY
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.runner import PipelineRunner

    home = _pg_home(tmp_path, postgres_url)
    yaml_bytes = (home / "dagster.yaml").read_bytes()
    instance = open_instance(home)
    try:
        runner = PipelineRunner(
            repo, instance, resource=KfmGateResource(root=str(repo), as_of=DAYS[-1])
        )
        runner.register_aois([ALLOW_AOI, DENY_AOI])
        assert runner.snapshot_sources()
        results = {(a, d): runner.run_partition(a, d) for a in (ALLOW_AOI, DENY_AOI) for d in DAYS}
        for day in DAYS:
            ok, denied = results[(ALLOW_AOI, day)], results[(DENY_AOI, day)]
            assert ok.success and ok.outcome == "allow" and ok.published, ok.error
            assert not denied.success and denied.outcome == "deny" and not denied.published
            assert json.loads(_release(repo, ALLOW_AOI, day).read_text())["run_id"] == ok.run_id
            assert not _release(repo, DENY_AOI, day).exists()
        # a later run of the promotion alone, on the same PostgreSQL history, still refuses
        later = runner.run_partition(DENY_AOI, DAYS[0], promotion_only=True)
        assert not later.success and not later.published
        assert not _release(repo, DENY_AOI, DAYS[0]).exists()
        published = instance.get_materialized_partitions(PUBLISHED_KEY)
        assert {str(k) for k in published} == {f"{ALLOW_AOI}|{d}" for d in DAYS}
        tagged = instance.get_runs(filters=dg.RunsFilter(tags={AOI_TAG: DENY_AOI}))
        assert len(tagged) == 3
        stored = len(instance.get_runs())
    finally:
        instance.dispose()
    with psycopg.connect(postgres_url) as conn:  # the runs are in PostgreSQL, not in the home
        row = conn.execute("SELECT count(*) FROM runs").fetchone()
    assert row == (stored,) and stored == 6  # snapshot + 4 partitions + promotion only
    assert not [p for p in home.rglob("*.db")]  # no sqlite storage beside it (only logs)
    assert (home / "dagster.yaml").read_bytes() == yaml_bytes


def _dagster(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_daemon_queue_never_runs_two_partitions_of_one_aoi_at_once(
    tmp_path: Path, repo: Path, postgres_url: str
) -> None:
    import dagster as dg

    from kfm_gate.orchestration.pipeline import PARTITION_JOB
    from kfm_gate.orchestration.sensors import SENSOR_NAME

    home = _pg_home(tmp_path, postgres_url, max_concurrent_runs=2)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "KFM_GATE_ROOT": str(repo),
        "KFM_GATE_AS_OF": DAYS[-1],
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
    }
    started = subprocess.run(
        [_dagster("dagster"), "sensor", "start", SENSOR_NAME, "-m", MODULE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    log_path = tmp_path / "daemon.log"
    log = log_path.open("wb")
    daemon = subprocess.Popen(
        [_dagster("dagster-daemon"), "run", "-m", MODULE],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    instance = open_instance(home)
    try:
        done = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE
        deadline = time.monotonic() + 1200
        records: list[Any] = []
        while time.monotonic() < deadline:
            assert daemon.poll() is None, log_path.read_text()[-3000:]
            records = list(instance.get_run_records())
            parts = [r for r in records if r.dagster_run.job_name == PARTITION_JOB]
            if len(parts) == 4 and all(r.dagster_run.status in done for r in records):
                break
            time.sleep(2)
        else:
            raise AssertionError(
                f"runs not finished: {[(r.dagster_run.job_name, r.dagster_run.status) for r in records]}"
                + log_path.read_text()[-3000:]
            )
    finally:
        _stop(daemon)
        log.close()
    try:
        parts = [r for r in records if r.dagster_run.job_name == PARTITION_JOB]
        spans: dict[str, list[tuple[float, float]]] = {}
        for record in parts:
            aoi = record.dagster_run.tags[AOI_TAG]
            assert str(record.dagster_run.tags["dagster/partition"]).startswith(aoi)
            assert record.start_time is not None and record.end_time is not None
            spans.setdefault(aoi, []).append((record.start_time, record.end_time))
        assert sorted(spans) == sorted((ALLOW_AOI, DENY_AOI))
        for aoi, runs in spans.items():  # the tag limit: one run per AOI at a time
            assert not any(_overlap(a, b) for a, b in combinations(runs, 2)), (aoi, runs)
        every = [(r.start_time, r.end_time) for r in records if r.start_time and r.end_time]
        for start, _ in every:  # max_concurrent_runs: never more than two at once
            assert sum(1 for s, e in every if s <= start < e) <= 2
        # ... and the limit is per AOI, not global: runs of the two AOIs ran side by side
        assert any(_overlap(a, b) for a in spans[ALLOW_AOI] for b in spans[DENY_AOI])
        queued = instance.get_records_for_run(
            parts[0].dagster_run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED
        ).records
        assert queued  # went through the QueuedRunCoordinator
    finally:
        instance.dispose()
    for day in DAYS:  # and the gate still decided: denied partitions were never published
        assert _release(repo, ALLOW_AOI, day).is_file()
        assert not _release(repo, DENY_AOI, day).exists()
