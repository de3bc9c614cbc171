"""CLI subcommand ``report``: the council report of one run or of a range of partition days.

Imported when the CLI starts: only the standard library at module level; the report module
(and shapely, through the geo registries) is imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kfm_gate.arguments import day_argument


def _report(args: argparse.Namespace) -> int:
    from kfm_gate.errors import ConfigError, InputError
    from kfm_gate.layout import Layout
    from kfm_gate.reporting.council import render_range_report, render_run_report, select_runs
    from kfm_gate.runs import RunStore

    root = Path(args.root).resolve()
    if not root.is_dir():
        raise ConfigError(f"repository root {root} does not exist; pass --root DIR")
    policy_dir = Path(args.policies).resolve() if args.policies else root / "policies"
    store = RunStore(Layout(root))
    ranged = args.date_from is not None or args.date_to is not None
    if args.run_id and (ranged or args.aoi):
        raise InputError("give either RUN_ID or --from/--to [--aoi], not both")
    if args.run_id:
        page = render_run_report(root, store.find(args.run_id).folder, policy_dir)
        what = f"run {args.run_id}"
    elif ranged:
        if args.date_from is None or args.date_to is None:
            raise InputError("a range needs both --from YYYY-MM-DD and --to YYYY-MM-DD")
        records = select_runs(store, args.date_from, args.date_to, args.aoi)
        if not records:
            scope = f" of AOI {args.aoi}" if args.aoi else ""
            raise InputError(
                f"no run{scope} has a partition day from {args.date_from} to {args.date_to} "
                f"under {store.base}"
            )
        page = render_range_report(
            root, records, policy_dir, first=args.date_from, last=args.date_to, aoi=args.aoi
        )
        what = f"{len(records)} run(s)"
    else:
        raise InputError("give a RUN_ID, or --from YYYY-MM-DD --to YYYY-MM-DD for a range")
    if args.out:
        from kfm_gate.layout import write_output

        out = write_output(Path(args.out), page.encode("utf-8"), make_dirs=True)
        print(f"council report of {what}: {out}")
    else:
        sys.stdout.write(page)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``report`` on the CLI's subparsers."""
    help_ = "the council report (HTML): outcome, reasons, evidence, obligations, waivers, map"
    p = sub.add_parser(
        "report",
        help=help_,
        description=help_ + ". Give one RUN_ID, or --from/--to (partition days, inclusive) "
        "for one page covering every run in the range.",
    )
    p.add_argument("run_id", nargs="?", help="run id, run folder name, or a unique prefix")
    p.add_argument("--from", dest="date_from", type=day_argument, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", type=day_argument, metavar="YYYY-MM-DD")
    p.add_argument("--aoi", metavar="ID", help="only runs of this AOI (with --from/--to)")
    p.add_argument("--out", metavar="FILE.html", help="write the page here (default: stdout)")
    p.add_argument("--policies", help="policy folder for rule titles (default: <root>/policies)")
    p.set_defaults(func=_report)
