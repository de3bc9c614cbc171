"""Benchmark of the gate's state and of the pipeline on a PostgreSQL Dagster instance.

* ledger_append_file_ms: the median wall time of one ``Ledger.append`` to the file ledger
  (flock, tail read, line + head + fsyncs), over 300 appends after 20 warm-up ones, in a
  fresh ledger under ``.bench/`` (``KFM_BENCH_DIR``). The PostgreSQL ledger of the next round
  prints ``ledger_append_pg_ms`` beside it, in the same run.
* pg_partitions_per_s_1 / pg_partitions_per_s_2: partitions gated per second by 1 and by 2
  long-lived runner processes (``PipelineRunner``, one in-process Dagster run per partition,
  the project's real policies) sharing one Dagster instance on PostgreSQL
  (``postgresql+psycopg2``) and one repository. Warm-up is apart: each process first runs one
  partition of its own (imports, policy compilation, the quality worker: ~20 s), then all start
  together on 8 partitions split between them; the rate is 8 / the wall time from the start
  until the last one finished. A fresh repository and database per setting, so no decision is
  reused. Needs the server of ``tools/postgres.sh`` (started here when it is not running, and
  stopped again) or ``KFM_TEST_POSTGRES_URL``; without one these two lines are not printed.

Run: .venv/bin/python benchmarks/bench_state.py   (prints ``RESULT <metric> <value> <unit>``)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = "2026-11-03"
COUNTIES = (  # the demo's counties: each partition is fresh in its own repository
    "ks-county-20013",
    "ks-county-20045",
    "ks-county-20051",
    "ks-county-20055",
    "ks-county-20057",
    "ks-county-20085",
    "ks-county-20091",
    "ks-county-20161",
    "ks-county-20169",
    "ks-county-20173",
)
MEASURED = 8


def scratch_base() -> Path:
    base = Path(os.environ.get("KFM_BENCH_DIR") or REPO / ".bench")
    base.mkdir(parents=True, exist_ok=True)
    return base


# -- the file ledger -------------------------------------------------------------------------


def bench_file_ledger(base: Path, n: int = 300, warmup: int = 20) -> float:
    from kfm_gate.ids import digest
    from kfm_gate.provenance.ledger import Ledger, entry_from_decision
    from kfm_gate.samples import sample_record

    decision = sample_record("allow").decision.to_json_dict()
    entries = []
    for i in range(n + warmup):
        d = {**decision, "decision_id": f"{decision['decision_id']}-{i}"}
        entries.append(entry_from_decision(d, decision_digest=digest(d)))
    times = []
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-state-") as tmp:
        ledger = Ledger(Path(tmp) / "mcp" / "ledger.jsonl")
        for i, entry in enumerate(entries):
            start = time.perf_counter()
            ledger.append(entry)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
        assert ledger.verify().ok
    print(
        f"file ledger: {n} appends, median {statistics.median(times):.2f} ms, "
        f"p90 {statistics.quantiles(times, n=10)[-1]:.2f} ms",
        file=sys.stderr,
    )
    return statistics.median(times)


# -- the pipeline on PostgreSQL ----------------------------------------------------------------


def _server() -> tuple[str | None, bool]:
    """(admin URL, whether this benchmark started the server) or (None, False)."""
    import psycopg

    url = os.environ.get("KFM_TEST_POSTGRES_URL") or (
        f"postgresql://postgres@127.0.0.1:{os.environ.get('KFM_PG_PORT', '54329')}/postgres"
    )

    def answers() -> bool:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return True
        except psycopg.Error:
            return False

    if answers():
        return url, False
    if os.environ.get("KFM_TEST_POSTGRES_URL"):
        return None, False
    done = subprocess.run(
        [str(REPO / "tools/postgres.sh"), "start"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not answers():
        print(f"no PostgreSQL: {done.stderr.strip()}", file=sys.stderr)
        return None, False
    return url, True


def _worker(
    root: str, home: str, warm: str, mine: list[str], ready: Any, go: Any, results: Any
) -> None:
    warnings.simplefilter("ignore")
    from kfm_gate.orchestration.instance import open_instance
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.runner import PipelineRunner

    instance = open_instance(Path(home))
    runner = PipelineRunner(Path(root), instance, resource=KfmGateResource(root=root, as_of=DAY))
    first = runner.run_partition(warm, DAY)
    ready.put(first.outcome)
    go.wait()
    outcomes = [runner.run_partition(aoi, DAY).outcome for aoi in mine]
    results.put(outcomes)
    instance.dispose()


def bench_pg_pipeline(base: Path, admin_url: str, workers: int) -> float:
    import psycopg
    from psycopg import sql

    from kfm_gate.orchestration.instance import open_instance, postgres_dagster_yaml
    from kfm_gate.orchestration.partitions import AOI_PARTITIONS_NAME
    from kfm_gate.orchestration.survey import SurveySettings, write_survey

    warm, measured = COUNTIES[:workers], COUNTIES[workers : workers + MEASURED]
    root = base / f"repo-{workers}"
    root.mkdir()
    shutil.copytree(REPO / "policies", root / "policies")
    (root / "data").mkdir()
    shutil.copytree(REPO / "data" / "aoi", root / "data" / "aoi")
    write_survey(root, SurveySettings(county_ids=(*warm, *measured), days=(DAY,)))
    name = f"kfm_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        home = base / f"home-{workers}"
        home.mkdir()
        url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
        (home / "dagster.yaml").write_text(postgres_dagster_yaml(f"{url}/{name}"), encoding="utf-8")
        instance = open_instance(home)  # creates the schema once, before the workers race
        instance.add_dynamic_partitions(AOI_PARTITIONS_NAME, [*warm, *measured])
        instance.dispose()
        ctx = mp.get_context("spawn")
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        shares = [list(measured[i::workers]) for i in range(workers)]
        procs = [
            ctx.Process(
                target=_worker,
                args=(str(root), str(home), warm[i], shares[i], ready, go, results),
            )
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        warmups = [ready.get(timeout=600) for _ in procs]
        start = time.perf_counter()
        go.set()
        outcomes = [o for _ in procs for o in results.get(timeout=1200)]
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join(timeout=120)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(
        f"{workers} runner process(es) on PostgreSQL: {len(outcomes)} partitions in "
        f"{elapsed:.1f} s after warm-up ({', '.join(warmups)}); outcomes {counts}",
        file=sys.stderr,
    )
    if "failed" in counts:
        raise SystemExit(f"a partition got no decision: {counts}")
    return len(outcomes) / elapsed


def main() -> int:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("KFM_MASK_KEY", secrets.token_hex(32))  # throw-away, never written
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.simplefilter("ignore")
    base = scratch_base()
    file_ms = bench_file_ledger(base)
    rates: dict[int, float] = {}
    admin_url, started = _server()
    try:
        if admin_url is not None:
            with tempfile.TemporaryDirectory(dir=base, prefix="bench-state-pg-") as tmp:
                for workers in (1, 2):
                    folder = Path(tmp) / f"w{workers}"
                    folder.mkdir()
                    rates[workers] = bench_pg_pipeline(folder, admin_url, workers)
    finally:
        if started:
            subprocess.run([str(REPO / "tools/postgres.sh"), "stop"], check=False)
    print(f"RESULT ledger_append_file_ms {file_ms:.2f} ms")
    for workers, rate in rates.items():
        print(f"RESULT pg_partitions_per_s_{workers} {rate:.2f} partitions/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
