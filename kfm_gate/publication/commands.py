"""CLI subcommand ``withdraw``: take a published partition back, with a reason.

Imported when the CLI starts: only the standard library at module level.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from kfm_gate.arguments import day_argument, repository_root


def _withdraw(args: argparse.Namespace) -> int:
    from kfm_gate.layout import Layout
    from kfm_gate.publication import Publisher

    publisher = Publisher(Layout(repository_root(args.root)))
    request = publisher.resolve(args.partition)
    day = args.as_of or dt.datetime.now(dt.UTC).date()
    done = publisher.withdraw(request, reason=args.reason, day=day, by="council")
    if args.format == "json":
        print(json.dumps(done.to_json_dict(), indent=2, sort_keys=True))
    else:
        state = done.state
        print(
            f"WITHDRAWN  {state.asset_key} {state.partition_key}  decision {state.decision_id}\n"
            f"  item {state.stac_item} (deprecated), {len(state.public_files)} public file(s) "
            f"removed, publication state v{state.version}"
        )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``withdraw`` on the CLI's subparsers."""
    help_ = "withdraw a published partition: public view removed, STAC item deprecated"
    p = sub.add_parser(
        "withdraw",
        help=help_,
        description=help_ + "; DCAT and the lineage graph updated, a ledger entry appended.",
    )
    p.add_argument(
        "partition",
        help="'aoi|YYYY-MM-DD', 'asset@aoi|YYYY-MM-DD', a run id or a unique prefix of one",
    )
    p.add_argument("--reason", required=True, help="why (recorded in the graph and the item)")
    p.add_argument("--as-of", type=day_argument, help="day of the withdrawal (default: today)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_withdraw)
