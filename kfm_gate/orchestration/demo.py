"""``kfm-gate demo``: the historic-sites pipeline in-process on a slice of Kansas.

Default slice: 12 counties chosen to show every path (sacred, burial and archaeological demo
zones, tribal areas, plain counties) x the 3 survey days, with a persistent ``DAGSTER_HOME`` in
``.dagster_home/``; ``--all`` runs every county of the registry. Prints one progress line per
partition, then a table (partition, outcome, obligations, reasons), then how to open the same
runs in ``dagster dev``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from kfm_gate.orchestration.areas import county_ids
from kfm_gate.orchestration.survey import DEFAULT_DAYS, write_survey

DEMO_COUNTIES: tuple[str, ...] = (
    "ks-county-20013",  # Brown: tribal areas
    "ks-county-20045",  # Douglas: DEMO sacred site A
    "ks-county-20051",  # Ellis
    "ks-county-20055",  # Finney
    "ks-county-20057",  # Ford
    "ks-county-20085",  # Jackson: tribal area
    "ks-county-20091",  # Johnson
    "ks-county-20161",  # Riley: DEMO burial site B
    "ks-county-20169",  # Saline
    "ks-county-20173",  # Sedgwick: DEMO archaeological site C
    "ks-county-20177",  # Shawnee
    "ks-county-20209",  # Wyandotte
)
HOME_DIR = ".dagster_home"


def _cell(values: Sequence[str], width: int) -> str:
    text = ",".join(values) if values else "-"
    return text if len(text) <= width else text[: width - 1] + "~"


def run_demo(
    root: Path,
    *,
    all_counties: bool = False,
    aois: Sequence[str] | None = None,
    days: Sequence[str] | None = None,
    home: Path | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run the demo; returns 0 when every partition got a decision (allowed or not)."""
    from kfm_gate.orchestration.instance import check_dagster_yaml
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.runner import PipelineRunner, open_instance

    root = root.resolve()
    days = tuple(days or DEFAULT_DAYS)
    for day in days:
        dt.date.fromisoformat(day)
    if not any((root / "data/sources").glob("*.yml")):
        print("generating the demo survey (data/raw, data/sources) ...", file=err)
        write_survey(root)
    registry = county_ids(root)
    if all_counties:
        selected = list(registry)
    else:
        selected = list(aois or DEMO_COUNTIES)
        unknown = sorted(set(selected) - set(registry))
        if unknown:
            print(f"unknown AOI id(s) {', '.join(unknown)}: use ks-county-<GEOID>", file=err)
            return 2
    home = (home or root / HOME_DIR).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    as_of = max(days)
    started = time.perf_counter()
    runner = PipelineRunner(
        root, open_instance(home), resource=KfmGateResource(root=str(root), as_of=as_of)
    )
    print(f"Dagster instance: {check_dagster_yaml(home / 'dagster.yaml').describe()}", file=err)
    runner.register_aois(registry)
    print(f"source snapshots: {'ok' if runner.snapshot_sources() else 'FAILED'}", file=err)
    parts = [(a, d) for a in sorted(selected) for d in sorted(days)]
    results = []
    for i, (aoi, day) in enumerate(parts, 1):
        res = runner.run_partition(aoi, day)
        results.append(res)
        state = "published" if res.published else ("reused" if res.reused else "blocked")
        print(
            f"[{i:>3}/{len(parts)}] {res.partition:<28} {res.outcome:<10} "
            f"{'reused ' if res.reused else ''}{state if not res.reused else ''} {res.seconds:5.2f}s",
            file=err,
        )
    elapsed = time.perf_counter() - started
    header = f"{'partition':<28} {'outcome':<10} {'published':<9} {'obligations':<34} reasons"
    print(header, file=out)
    print("-" * len(header), file=out)
    counts: dict[str, int] = {}
    for res in results:
        counts[res.outcome] = counts.get(res.outcome, 0) + 1
        print(
            f"{res.partition:<28} {res.outcome:<10} {'yes' if res.published else 'no':<9} "
            f"{_cell(res.obligations, 34):<34} {_cell(res.reasons, 60)}",
            file=out,
        )
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"\n{len(results)} partitions in {elapsed:.1f}s: {summary}", file=out)
    print(
        "\nOpen the same runs in the Dagster UI:\n"
        f"  DAGSTER_HOME={home} KFM_GATE_AS_OF={as_of} \\\n"
        "    .venv/bin/dagster dev -m kfm_gate.orchestration.definitions -h 127.0.0.1 -p 3000\n"
        "then browse http://127.0.0.1:3000 (Runs; Assets > kfm/processed/historic_sites > Checks).\n"
        "Explain one decision: kfm-gate explain <run id>",
        file=out,
    )
    return 0 if all(r.outcome != "failed" for r in results) else 1
