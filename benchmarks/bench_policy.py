"""Policy evaluation overhead and CLI start-up.

Targets (issue 2):
- the gate's two policy phases (input serialization, both evaluations, parsing the results
  into models) against the raw embedded-OPA calls on the same input, side by side in one
  process: at most 2x, median at most 1 ms per decision with the baseline policy set;
- ``kfm-gate --help`` and ``kfm-gate policy test`` start (run, for policy test) in at most 1.5 s.

Run: .venv/bin/python benchmarks/bench_policy.py
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kfm_gate.gate import build_gate  # noqa: E402
from kfm_gate.models import Evidence, EvidenceSection, join_flags  # noqa: E402
from kfm_gate.policy.contract import parse_obligations, policy_input  # noqa: E402
from kfm_gate.policy.engine import DECISION_PATH, OBLIGATIONS_PATH  # noqa: E402
from tests.helpers import make_request, public_flags  # noqa: E402

ROUNDS = 2000


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kfm-bench-"))
    try:
        root = tmp / "repo"
        root.mkdir()
        shutil.copytree(REPO / "policies", root / "policies")
        gate = build_gate(root, as_of=dt.date(2026, 11, 25))
        engine = gate.engine()
        opa = engine._opa  # the raw engine, for the baseline
        from kfm_gate.policy.contract import parse_request

        request = parse_request(make_request(root, flags=public_flags(tk_labels=["tka"])))
        flags = join_flags(
            [i.flags.with_origin(f"input:{i.id}") for i in request.inputs if i.flags]
        )
        today = dt.date(2026, 11, 25)
        evidence = Evidence(
            sections={
                "checksums": EvidenceSection(
                    collector="ChecksumCollector",
                    data={
                        "outputs": [
                            {
                                "path": o.path,
                                "declared": o.sha256,
                                "actual": o.sha256,
                                "exists": True,
                                "match": True,
                            }
                            for o in request.outputs
                        ]
                    },
                ),
                "placement": EvidenceSection(
                    collector="PlacementCollector",
                    data={"allowed_prefix": "data/processed/", "outside": [], "outside_count": 0},
                ),
            }
        )

        def gate_side() -> None:
            base = policy_input(request, flags, [], {}, today)
            obligations = parse_obligations(engine.evaluate(OBLIGATIONS_PATH, base))
            doc = {
                **base,
                "obligations": [o.to_json_dict() for o in obligations],
                "evidence": evidence.to_policy_input(),
                "waivers": [],
            }
            raw = engine.evaluate(DECISION_PATH, doc)
            gate._decision(
                request,
                "run:kfm-gate:bench",
                raw,
                obligations,
                evidence,
                engine.policy_digest,
                engine.name,
                today,
            )

        base_doc = policy_input(request, flags, [], {}, today)
        raw_obl = opa.eval_document(OBLIGATIONS_PATH, base_doc)
        dec_doc = {
            **base_doc,
            "obligations": raw_obl,
            "evidence": evidence.to_policy_input(),
            "waivers": [],
        }

        def raw_side() -> None:
            opa.eval_document(OBLIGATIONS_PATH, base_doc)
            opa.eval_document(DECISION_PATH, dec_doc)

        for _ in range(200):
            gate_side()
            raw_side()
        gate_t, raw_t = [], []
        for _ in range(ROUNDS):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            gate_side()
            t1 = time.perf_counter()
            raw_side()
            t2 = time.perf_counter()
            gate_t.append(t1 - t0)
            raw_t.append(t2 - t1)
        gate_med = statistics.median(gate_t) * 1000
        raw_med = statistics.median(raw_t) * 1000
        print(
            f"gate policy phases: median {gate_med:.3f} ms; raw OPA calls: median {raw_med:.3f} ms"
        )

        exe = (
            str(REPO / ".venv/bin/kfm-gate")
            if (REPO / ".venv/bin/kfm-gate").exists()
            else "kfm-gate"
        )
        starts = []
        for cmd in ([exe, "--help"], [exe, "policy", "test", str(REPO / "policies")]):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
            print(
                f"{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}: median {statistics.median(times):.3f} s"
            )
            starts.append(statistics.median(times))
        gate.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"RESULT policy_overhead {gate_med / raw_med:.2f} x")
    print(f"RESULT policy_median_ms {gate_med:.3f} ms")
    print(f"RESULT cli_start_s {max(starts):.3f} s")


if __name__ == "__main__":
    main()
