"""CLI subcommands of the pipeline: ``demo`` and ``demo-data``.

Imported when the CLI starts: nothing here imports dagster (or any heavy library) at module
level; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root).resolve()


def _demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    from kfm_gate.orchestration.demo import run_demo

    aois = [a for item in (args.aoi or []) for a in item.split(",") if a]
    return run_demo(
        _root(args),
        all_counties=args.all,
        aois=aois or None,
        days=args.days,
        home=Path(args.dagster_home) if args.dagster_home else None,
    )


def _demo_data(args: argparse.Namespace) -> int:
    from kfm_gate.orchestration.survey import write_survey

    root = _root(args)
    if args.check:
        from kfm_gate.orchestration.survey import survey_files

        changed = [
            p for p, data in survey_files(root).items() if not p.is_file() or p.read_bytes() != data
        ]
        for p in changed:
            print(f"differs: {p.relative_to(root)}")
        return 1 if changed else 0
    for path in write_survey(root):
        print(path.relative_to(root))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``demo`` and ``demo-data`` on the CLI's subparsers."""
    demo = sub.add_parser(
        "demo",
        help="run the Dagster pipeline in-process on the demo survey and print the decisions",
        description="Gate the demo historic-site survey through the Dagster pipeline "
        "(12 counties x 3 days by default; --all for every county).",
    )
    demo.add_argument("--all", action="store_true", help="every county of the AOI registry")
    demo.add_argument(
        "--aoi", action="append", metavar="ID[,ID]", help="AOI ids (ks-county-<GEOID>) to run"
    )
    demo.add_argument("--days", nargs="+", metavar="YYYY-MM-DD", help="survey days to run")
    demo.add_argument("--root", default=".", help="repository root (default: .)")
    demo.add_argument(
        "--dagster-home",
        help="Dagster home (default: <root>/.dagster_home, git-ignored); its dagster.yaml, "
        "e.g. PostgreSQL storage, is used as is and never rewritten",
    )
    demo.set_defaults(func=_demo)

    data = sub.add_parser(
        "demo-data",
        help="regenerate the demo survey (data/raw/*.csv, data/sources/*.yml)",
        description="Write the deterministic demo survey; --check exits 1 if it would change files.",
    )
    data.add_argument("--root", default=".", help="repository root (default: .)")
    data.add_argument("--check", action="store_true", help="only report files that differ")
    data.set_defaults(func=_demo_data)
