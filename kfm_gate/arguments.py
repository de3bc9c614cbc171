"""Argument types shared by the CLI and the subcommands each part registers on it.

A part's ``commands.py`` imports these, never :mod:`kfm_gate.cli` (which imports the parts:
importing it back would tie every part into one cycle).
"""

from __future__ import annotations

import argparse
import datetime as dt


def day_argument(value: str) -> dt.date:
    """argparse type of a ``YYYY-MM-DD`` day (shared by every subcommand that takes one)."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not a YYYY-MM-DD date") from err
