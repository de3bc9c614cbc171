"""Argument types shared by the CLI and the subcommands each part registers on it.

A part's ``commands.py`` imports these, never :mod:`kfm_gate.cli` (which imports the parts:
importing it back would tie every part into one cycle).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def day_argument(value: str) -> dt.date:
    """argparse type of a ``YYYY-MM-DD`` day (shared by every subcommand that takes one)."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not a YYYY-MM-DD date") from err


def repository_root(value: str) -> Path:
    """The repository root a command works in (``--root``), resolved; ConfigError if it is
    not a folder."""
    from kfm_gate.errors import ConfigError

    root = Path(value).resolve()
    if not root.is_dir():
        raise ConfigError(f"repository root {root} does not exist; pass --root DIR")
    return root
