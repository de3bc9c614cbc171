"""Thin command functions for the CLI: ``ledger verify``, ``lineage``, ``diff``.

Each prints text (or JSON with ``as_json``) and returns the exit code: 0 ok, 1 a finding
(ledger does not verify, entity unknown), 2 the command could not run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from kfm_gate.errors import KfmGateError


def run_ledger_verify(
    root: Path,
    *,
    ledger_path: Path | None = None,
    require_signatures: bool = False,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    from kfm_gate.journal import recover
    from kfm_gate.layout import Layout
    from kfm_gate.provenance.ledger import Ledger

    out = out or sys.stdout
    if ledger_path is not None and not ledger_path.is_file():  # a named ledger must exist
        print(f"kfm-gate ledger verify: ledger file {ledger_path} does not exist", file=sys.stderr)
        return 2
    try:
        layout = Layout(root)
        if ledger_path is None and recover(layout):
            # a transaction a crash interrupted after its commit point: finished first, as
            # every transaction does, so the ledger is read as it is decided
            print("kfm-gate ledger verify: finished an interrupted transaction", file=sys.stderr)
        ledger = Ledger(ledger_path or layout.ledger_path, repo_root=root)
        report = ledger.verify(require_signatures=require_signatures)
    except KfmGateError as err:
        print(f"kfm-gate ledger verify: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.render_text(), file=out)
    return report.exit_code


def run_lineage(
    root: Path, entity: str, *, as_json: bool = False, out: TextIO | None = None
) -> int:
    from kfm_gate.catalog.graph import lineage_walk

    out = out or sys.stdout
    try:
        report = lineage_walk(entity, root=root)
    except KfmGateError as err:
        print(f"kfm-gate lineage: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.render_text(), file=out)
    return report.exit_code


def run_diff(
    root: Path, a: str, b: str, *, as_json: bool = False, out: TextIO | None = None
) -> int:
    from kfm_gate.catalog.graph import diff_partitions

    out = out or sys.stdout
    try:
        diff = diff_partitions(root, a, b)
    except KfmGateError as err:
        print(f"kfm-gate diff: {err}", file=sys.stderr)
        return 2
    print(json.dumps(diff.to_dict(), indent=2) if as_json else diff.render_text(), file=out)
    return diff.exit_code
