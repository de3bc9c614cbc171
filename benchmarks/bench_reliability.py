"""Benchmark of the fail-closed guarantees (issue #12).

* fault_cases_closed / fault_cases_total: every case of the fault registry
  (``tests/reliability/faults.py``: engine, OPA server, collectors, suites, registries,
  waivers, requests, settings, full disks) run in a scratch folder; closed = outcome error or
  exit 2 (or the loader refused the document), one clear line, nothing published.
* load_partitions_per_s, load_peak_mb, load_growth_mb: N partitions (10,000; ``--quick``
  1,000) through the gate's Python API in one fresh process (``tests/reliability/load.py``),
  its resident memory sampled every 500 partitions; the peak is that process's plus its
  policy engine child's; growth is measured from 1,000 partitions to the end.
* gate_peak_mb: one gate run of a demo survey partition (the project's default gate, records
  included) in a fresh process: its peak resident memory plus that of its child processes
  (policy engine, quality worker); gate_peak_mb_largest_request: the same with the largest
  request the limits allow (1 MiB, 20,000 elements, depth 32).
* policy_eval_child_ms vs policy_eval_inprocess_ms (and their ratio): one decision evaluation
  of the demo's decision input through the child-process engine the gate uses and through the
  in-process engine, side by side in this process.

Ends with one ``RESULT <metric> <value> <unit>`` line per figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability.faults import FAULTS, run_fault  # noqa: E402
from tests.reliability.load import load_in_fresh_process, peak_of_one_run  # noqa: E402


def _faults(base: Path) -> tuple[int, int]:
    closed = 0
    for name in sorted(FAULTS):
        result = run_fault(name, base)
        closed += result.closed
        state = "closed" if result.closed else "OPEN"
        print(
            f"  {state:6} {name:48} {result.outcome:10} {result.seconds:6.2f} s  {result.message[:90]}"
        )
    return closed, len(FAULTS)


def _policy_eval(base: Path, repeats: int) -> tuple[float, float]:
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector
    from kfm_gate.gate import build_gate
    from kfm_gate.policy.engine import DECISION_PATH, EmbeddedOpaEngine
    from kfm_gate.policy.worker import ProcessOpaEngine
    from tests.helpers import dump, make_request, scratch_repo

    (base / "eval").mkdir()
    root = scratch_repo(base / "eval")
    gate = build_gate(
        root,
        as_of=dt.date(2026, 11, 3),
        collectors=[ChecksumCollector(), PlacementCollector()],
        aoi_ids=frozenset({"ks-county-20045"}),
    )
    run = gate.evaluate(dump(make_request(root)))
    doc = run.policy_inputs["decision"]
    policies = gate.policies
    gate.close()
    times = {}
    for name, engine in (
        ("inprocess", EmbeddedOpaEngine(policies, prepare=(DECISION_PATH,))),
        ("child", ProcessOpaEngine(policies)),
    ):
        engine.evaluate(DECISION_PATH, doc)
        start = time.perf_counter()
        for _ in range(repeats):
            engine.evaluate(DECISION_PATH, doc)
        times[name] = (time.perf_counter() - start) / repeats * 1000
        engine.close()
    return times["child"], times["inprocess"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 partitions, fewer repeats")
    args = parser.parse_args()
    os.environ.setdefault("KFM_MASK_KEY", "bench-reliability-masking-key-0123456789")
    n = 1_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="kfm-bench-reliability-") as tmp:
        base = Path(tmp)
        print("== fault cases")
        closed, total = _faults(base / "faults")
        print("== policy evaluation: child process vs in-process")
        child_ms, inproc_ms = _policy_eval(base, 100 if args.quick else 400)
        print(f"== load run: {n} partitions")
        report, load_peak = load_in_fresh_process(base / "load", n)
        growth = report.growth_mb(after=min(1_000, n // 2))
        print(
            f"  {report.partitions} partitions in {report.seconds:.1f} s; outcomes {report.outcomes}"
        )
        print(f"  RSS samples (partitions, MB): {report.samples}")
        print("== peak memory of one gate run")
        demo = peak_of_one_run(base / "peak", "demo")
        largest = peak_of_one_run(base / "peak", "largest")
        print(f"  demo partition: {demo}")
        print(f"  largest request: {largest}")
    print(f"RESULT fault_cases_closed {closed} cases")
    print(f"RESULT fault_cases_total {total} cases")
    print(f"RESULT load_partitions_per_s {report.per_second:.1f} partitions/s")
    print(f"RESULT load_peak_mb {load_peak:.0f} MB")
    print(f"RESULT load_growth_mb {growth:.1f} MB")
    print(f"RESULT gate_peak_mb {demo['self_mb'] + demo['children_mb']:.0f} MB")
    print(
        f"RESULT gate_peak_mb_largest_request {largest['self_mb'] + largest['children_mb']:.0f} MB"
    )
    print(f"RESULT policy_eval_child_ms {child_ms:.2f} ms")
    print(f"RESULT policy_eval_inprocess_ms {inproc_ms:.2f} ms")
    print(f"RESULT policy_eval_child_ratio {child_ms / inproc_ms:.2f} x")


if __name__ == "__main__":
    main()
