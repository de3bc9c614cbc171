"""Council tooling benchmark: policy impact replay speed.

Records RUNS partitions with the real gate (the project's policies, integrity collectors) in a
scratch repository, then the council lowers a threshold in ``policies/data/gate.json`` and
``replay_runs`` replays every recorded decision under the base and the edited policies, as
``kfm-gate policy impact`` does: the edited policies evaluate every decision (both phases);
under the base, whose digest the runs recorded, the recorded answers are reused and a spread
sample of them is evaluated to check them (the count is printed). The rate is recorded
decisions replayed per second, including reading the run records and compiling the engines. The replay is repeated ROUNDS times (at
least 3, default 5); the RESULT is the median rate, the best and worst are printed as info.

The embedded OPA is Go, which reads ``GOGC`` only when the process starts; ``kfm-gate policy
impact`` restarts itself with ``GOGC=400`` when the environment sets none, and this benchmark
does the same so that it measures what the command does (``GOGC`` already set is kept).

Ends with ``RESULT impact_per_s <v> decisions/s``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RUNS = int(os.environ.get("KFM_BENCH_IMPACT_RUNS", "1000"))
ROUNDS = max(3, int(os.environ.get("KFM_BENCH_IMPACT_ROUNDS", "5")))
AS_OF = dt.date(2026, 11, 25)


def _request(root: Path, day: int) -> dict[str, object]:
    when = dt.date(2024, 1, 1) + dt.timedelta(days=day)
    part = f"data/processed/survey/historic_sites/ks-county-20045/{when.isoformat()}"
    content = f"site_id,name\ns{day},Mill {day}\n".encode()
    target = root / part / "sites.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    flags: dict[str, object] = {
        "classification": "public",
        "sensitivity": "public",
        "licenses": ["CC-BY-4.0"],
    }
    if day % 7 == 3:
        flags["tk_labels"] = ["tkss"]
    return {
        "asset_key": "kfm/historic_sites/public",
        "pipeline": "survey",
        "dataset": "historic_sites",
        "partition": {"aoi_key": "ks-county-20045", "time_key": when.isoformat()},
        "code_ref": None if day % 5 == 0 else "3f2c1e0",
        "params": {"day": day},
        "inputs": [{"id": "src:demo", "sha256": "sha256:" + "0" * 64, "flags": flags}],
        "outputs": [
            {
                "path": f"{part}/sites.csv",
                "sha256": "sha256:" + hashlib.sha256(content).hexdigest(),
                "media_type": "text/csv",
            }
        ],
    }


def main() -> None:
    from kfm_gate.gate import build_gate
    from kfm_gate.policy import load_policy_set
    from kfm_gate.policy.impact import replay_runs

    with tempfile.TemporaryDirectory(prefix="kfm-bench-council-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        shutil.copytree(REPO / "policies", root / "policies")
        base = load_policy_set(root / "policies")
        gate = build_gate(root, as_of=AS_OF)
        start = time.perf_counter()
        outcomes: dict[str, int] = {}
        for day in range(RUNS):
            run = gate.evaluate(json.dumps(_request(root, day)))
            outcomes[run.decision.outcome] = outcomes.get(run.decision.outcome, 0) + 1
        gate.close()
        record_s = time.perf_counter() - start
        print(f"recorded {RUNS} runs in {record_s:.1f} s: {outcomes}")

        # the council edits a threshold: low-severity violations now block too
        gate_json = root / "policies/data/gate.json"
        doc = json.loads(gate_json.read_text())
        doc["blocking_severities"] = sorted({*doc["blocking_severities"], "low", "info"})
        gate_json.write_text(json.dumps(doc, indent=2) + "\n")
        head = load_policy_set(root / "policies")
        assert head.digest != base.digest

        rates: list[float] = []
        cpu_ms: list[float] = []  # CPU of the process (all threads), less noisy than the rate
        for _ in range(ROUNDS):
            cpu = time.process_time()
            start = time.perf_counter()
            report = replay_runs(root, base, head)
            elapsed = time.perf_counter() - start
            cpu_ms.append((time.process_time() - cpu) * 1000)
            assert report.replayed == RUNS, (report.replayed, report.skipped[:3])
            rates.append(report.replayed / elapsed)
        print(
            f"replayed {report.replayed} decisions under 2 policy sets: "
            f"{len(report.flips)} flip(s), {report.changed_same_outcome} changed rules only; "
            f"{report.reused} answers reused from the records (the rest evaluated)"
        )
        print(
            f"{ROUNDS} rounds: median {statistics.median(rates):.0f}, best {max(rates):.0f}, "
            f"worst {min(rates):.0f} decisions/s; CPU {statistics.median(cpu_ms) / RUNS:.2f} ms "
            f"per decision (median; load average {os.getloadavg()[0]:.2f})"
        )
    print(f"RESULT impact_per_s {statistics.median(rates):.0f} decisions/s")


if __name__ == "__main__":
    from kfm_gate.cli import restart_with_go_gc
    from kfm_gate.policy.commands import IMPACT_GO_GC_PERCENT

    restart_with_go_gc(sys.argv, IMPACT_GO_GC_PERCENT)  # as kfm-gate policy impact runs
    print(f"GOGC={os.environ.get('GOGC')} (as kfm-gate policy impact runs)")
    main()
