"""``kfm-gate ci`` over 10,000 run records (target: at most 60 s).

The repository is built from real gate runs (the six example requests through the default
gate, PROV and OpenLineage included) cloned into 10,000 run folders: each clone gets its own
partition day and the run id the gate would give it, so every check does its full work.
Side by side, the same secrets/PII check is timed on a 300-run slice done the plain way
(each file scanned on its own, every line analysed), to show what the corpus-wide
de-duplication buys.

Run: .venv/bin/python benchmarks/bench_ci.py [--runs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kfm_gate.audit import check_secrets_pii, run_audit  # noqa: E402
from kfm_gate.ids import run_folder_name, run_id  # noqa: E402


def build(root: Path, runs: int) -> None:
    from kfm_gate.examples import run_examples

    for part in ("policies", "examples", "data/aoi", "data/sources"):
        shutil.copytree(REPO / part, root / part)
    os.environ.setdefault("KFM_MASK_KEY", "bench-only-key-0123456789abcdef0123456789")
    run_examples(root, as_of=dt.date(2026, 11, 25))
    base = root / "mcp" / "runs"
    templates = [
        p
        for p in sorted(base.iterdir())
        if (p / "decision.json").is_file() and "invalid" not in p.name
    ]
    day0 = dt.date(2000, 1, 1)
    made = len(list(base.iterdir()))
    i = 0
    while made < runs:
        tpl = templates[i % len(templates)]
        day = (day0 + dt.timedelta(days=i)).isoformat()
        req = json.loads((tpl / "request.json").read_text())
        cfg = json.loads((tpl / "config.json").read_text())
        old_rid = json.loads((tpl / "decision.json").read_text())["run_id"]
        req["partition"]["time_key"] = day
        rid = run_id(
            asset_key=req["asset_key"],
            aoi_key=req["partition"]["aoi_key"],
            time_key=day,
            input_checksums={x["id"]: x["sha256"] for x in req["inputs"]},
            code_ref=req.get("code_ref"),
            params=req.get("params", {}),
            policy_digest=cfg["policy_digest"],
        )
        dest = base / run_folder_name(rid)
        i += 1
        if dest.exists():  # that day is one of the real runs already
            continue
        shutil.copytree(tpl, dest)
        (dest / "request.json").write_text(json.dumps(req, indent=2, sort_keys=True) + "\n")
        for name in (
            "decision.json",
            "config.json",
            "policy_input.json",
            "run.log",
            "evidence.json",
        ):
            p = dest / name
            if p.is_file():
                p.write_text(p.read_text().replace(old_rid, rid).replace("2026-11-01", day))
        made += 1


def plain_secrets_pii(root: Path, limit: int) -> float:
    from kfm_gate.evidence.pii import scan_text_file as pii_scan
    from kfm_gate.evidence.secrets import scan_text_file as secret_scan

    runs = sorted((root / "mcp" / "runs").iterdir())[:limit]
    files = [p for r in runs if r.is_dir() for p in r.rglob("*") if p.is_file()]
    t0 = time.perf_counter()
    for p in files:
        secret_scan(p)
        pii_scan(p)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kfm-bench-ci-"))
    try:
        root = tmp / "repo"
        root.mkdir()
        t0 = time.perf_counter()
        build(root, args.runs)
        print(f"built {args.runs} run records in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        report = run_audit(root)
        total = time.perf_counter() - t0
        print(
            f"kfm-gate ci over {args.runs} runs: {total:.1f} s, passed={report.passed}, "
            f"findings={len(report.findings)}"
        )
        for c in report.checks:
            print(f"  {c.name}: {c.examined} examined, {len(c.findings)} findings")
        slice_runs = 300
        sub = tmp / "slice"
        sub.mkdir()
        shutil.copytree(root / "policies", sub / "policies")
        for p in sorted((root / "mcp" / "runs").iterdir())[:slice_runs]:
            if p.is_dir():
                shutil.copytree(p, sub / "mcp" / "runs" / p.name)
        t0 = time.perf_counter()
        check_secrets_pii(sub)
        fast = time.perf_counter() - t0
        plain = plain_secrets_pii(sub, slice_runs)
        print(
            f"secrets+pii on {slice_runs} runs: corpus scan {fast:.2f} s, plain per-file {plain:.2f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"RESULT ci_10k_runs_s {total:.1f} s")
    print(f"RESULT ci_scan_speedup {plain / fast:.1f} x")


if __name__ == "__main__":
    main()
