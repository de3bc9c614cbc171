"""The default assembly of a gate: which collectors, obligation engines and recorders run.

Parts whose libraries are heavy are imported here only when a gate is built, never when the
CLI starts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kfm_gate.gate import Gate, build_gate


def build_default_gate(
    root: Path,
    *,
    policy_dir: Path | None = None,
    as_of: dt.date | None = None,
    force: bool = False,
    options: dict[str, Any] | None = None,
) -> Gate:
    """The gate with every collector and engine the project ships."""
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

    collectors: list[Any] = [ChecksumCollector(), PlacementCollector()]
    return build_gate(
        root,
        policy_dir=policy_dir,
        as_of=as_of,
        force=force,
        collectors=collectors,
        options=options,
    )
