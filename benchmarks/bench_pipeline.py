"""Benchmark of the Dagster pipeline: gate work per partition vs Dagster's per-run overhead.

* gate_per_partition_ms: one 1,000-row partition, without Dagster: the gate (obligations,
  evidence, both policy phases, the recording; ``force=True``) then the publisher (it refuses
  a denied partition; an allowed one gets its public view, STAC item, DCAT and graph). Every repetition runs
  in a fresh copy of the scratch repository, so no run record, ledger entry or catalog file of
  an earlier repetition is reused; only per-process state is warm (imports, the compiled
  policies of the policy digest, the Presidio analyzer, the Great Expectations worker process
  and its context), after one warm-up run. Recognizer results and parsed tables are shared
  within a run only (``ctx.memo``), never across repetitions.
  Processing (candidate + request) is timed apart and not counted. Two partitions are measured:
  the default survey partition (planted quality faults: denied) and the same partition without
  faults (allowed, so the catalog work is included); the RESULT is the larger median.
* dagster_run_overhead_ms: the same partition run through the partition job on a persistent
  (sqlite) Dagster instance with the decision already recorded, minus the same steps run
  directly: what Dagster adds per run.
* demo_s: the default demo (12 counties x 3 days) on a fresh Dagster home, set-up excluded.

Runs in a scratch copy of the repository (policies, registries, demo data); writes nothing
in the checkout. ``--quick`` uses fewer repetitions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AOI = "ks-county-20177"
DAY = "2026-11-03"


def _scratch(base: Path, *, demo_data: bool) -> Path:
    root = base / "repo"
    root.mkdir()
    shutil.copytree(REPO / "policies", root / "policies")
    (root / "data").mkdir()
    shutil.copytree(REPO / "data" / "aoi", root / "data" / "aoi")
    if demo_data:
        shutil.copytree(REPO / "data" / "sources", root / "data" / "sources")
        shutil.copytree(REPO / "data" / "raw", root / "data" / "raw")
    return root


def _direct(root: Path, gate: object) -> float:
    from kfm_gate.orchestration.processing import build_candidate

    start = time.perf_counter()
    cand = build_candidate(root, AOI, DAY)
    gate.evaluate(cand.request)  # type: ignore[attr-defined]
    _promote(root, gate, cand.request)
    return (time.perf_counter() - start) * 1000


def _promote(root: Path, gate: object, request: object) -> str:
    """The pipeline's promotion after the gate (the publisher); returns what it did."""
    from kfm_gate.errors import PublicationRefusedError
    from kfm_gate.orchestration.publication import promote

    try:
        promote(gate, request)  # type: ignore[arg-type]
    except PublicationRefusedError:
        return "refused"  # a denied partition stops at the guard, as in the pipeline
    return "published"


def _gate_work(template: Path, base: Path, reps: int) -> tuple[list[float], list[float], str]:
    """(gate ms, processing ms, outcome) of ``reps`` runs, each in a fresh copy of ``template``."""
    from kfm_gate.orchestration.processing import build_candidate
    from kfm_gate.runtime import build_default_gate

    as_of = dt.date.fromisoformat(DAY)
    gate_ms: list[float] = []
    processing_ms: list[float] = []
    outcome = "?"
    for rep in range(reps + 1):  # the first run is the warm-up
        root = base / f"rep{rep}"
        shutil.copytree(template, root)
        gate = build_default_gate(root, as_of=as_of, force=True)
        start = time.perf_counter()
        cand = build_candidate(root, AOI, DAY)
        mid = time.perf_counter()
        run = gate.evaluate(cand.request)
        promoted = _promote(root, gate, cand.request)
        end = time.perf_counter()
        gate.close()
        shutil.rmtree(root)
        outcome = f"{run.decision.outcome}, {promoted}"
        if rep:
            processing_ms.append((mid - start) * 1000)
            gate_ms.append((end - mid) * 1000)
    return gate_ms, processing_ms, outcome


def _summary(label: str, gate_ms: list[float], processing_ms: list[float], outcome: str) -> str:
    return (
        f"1,000-row partition, {label} ({outcome}): gate work median "
        f"{statistics.median(gate_ms):.1f} ms (min {min(gate_ms):.1f}, max {max(gate_ms):.1f}, "
        f"n={len(gate_ms)}); processing apart {statistics.median(processing_ms):.1f} ms"
    )


def bench_partition(base: Path, reps: int) -> tuple[float, float, str]:
    from kfm_gate.orchestration.resources import KfmGateResource, clear_gate_cache
    from kfm_gate.orchestration.runner import PipelineRunner, open_instance
    from kfm_gate.orchestration.survey import SurveySettings, write_survey

    root = _scratch(base, demo_data=False)
    write_survey(root, SurveySettings(county_ids=(AOI,), days=(DAY,), rows_per_partition=1000))
    clean_base = base / "clean"
    clean_base.mkdir()
    clean = _scratch(clean_base, demo_data=False)
    write_survey(
        clean,
        SurveySettings(county_ids=(AOI,), days=(DAY,), rows_per_partition=1000, quality_rate=0.0),
    )
    runs = base / "runs"
    runs.mkdir()
    medians = {}
    for label, template in (("default", root), ("no quality faults", clean)):
        gate_ms, processing_ms, outcome = _gate_work(template, runs, reps)
        medians[label] = statistics.median(gate_ms)
        print(_summary(label, gate_ms, processing_ms, outcome), file=sys.stderr)

    resource = KfmGateResource(root=str(root), as_of=DAY)
    runner = PipelineRunner(root, open_instance(base / "dagster_home"), resource=resource)
    runner.register_aois([AOI])
    first = runner.run_partition(AOI, DAY)  # records (or reuses) the decision
    outcome = first.outcome
    reused_gate = resource.gate()
    direct_reused = [_direct(root, reused_gate) for _ in range(reps)]
    dagster_ms = [runner.run_partition(AOI, DAY).seconds * 1000 for _ in range(reps)]
    clear_gate_cache()
    overhead = statistics.median(dagster_ms) - statistics.median(direct_reused)
    print(
        f"Dagster run with reused decision ({outcome}) median "
        f"{statistics.median(dagster_ms):.1f} ms, same steps without Dagster "
        f"{statistics.median(direct_reused):.1f} ms",
        file=sys.stderr,
    )
    print(
        "gate work medians: " + ", ".join(f"{label} {ms:.1f} ms" for label, ms in medians.items()),
        file=sys.stderr,
    )
    return max(medians.values()), overhead, outcome


def bench_demo(base: Path) -> float:
    from kfm_gate.orchestration.demo import run_demo

    root = _scratch(base, demo_data=True)
    start = time.perf_counter()
    code = run_demo(root, home=base / "demo_home", out=io.StringIO(), err=io.StringIO())
    elapsed = time.perf_counter() - start
    if code != 0:
        print(f"demo exited {code}", file=sys.stderr)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    reps = 5 if args.quick else args.reps
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    # a throw-away masking key for this process only (never written anywhere)
    os.environ.setdefault("KFM_MASK_KEY", secrets.token_hex(32))
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="kfm-bench-") as tmp:
        base = Path(tmp)
        (base / "p").mkdir()
        (base / "d").mkdir()
        gate_ms, overhead_ms, _ = bench_partition(base / "p", reps)
        demo_s = bench_demo(base / "d")
    print(f"RESULT gate_per_partition_ms {gate_ms:.1f} ms")
    print(f"RESULT dagster_run_overhead_ms {overhead_ms:.1f} ms")
    print(f"RESULT demo_s {demo_s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
