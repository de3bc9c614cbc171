"""Run the council commands through an argparse tree shaped like ``kfm_gate.cli``'s."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from kfm_gate.errors import KfmGateError
from kfm_gate.policy.commands import add_commands, add_policy_commands


def run_cli(argv: Sequence[str]) -> int:
    """Parse ``argv`` with the commands of kfm_gate.policy.commands; exit code as the CLI."""
    parser = argparse.ArgumentParser(prog="kfm-gate")
    parser.add_argument("--root", default=".")
    sub = parser.add_subparsers(dest="command", required=True)
    policy = sub.add_parser("policy")
    add_policy_commands(policy.add_subparsers(dest="policy_command", required=True))
    add_commands(sub)
    args = parser.parse_args(list(argv))
    try:
        code: int = args.func(args)
    except KfmGateError:
        return 2
    return code
