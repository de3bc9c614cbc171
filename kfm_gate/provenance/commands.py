"""CLI subcommands of ledger checkpoints (``ledger checkpoint``, ``ledger prove``,
``ledger verify --checkpoint``) and of the lineage outbox (``lineage-outbox status|flush``).

Thin: parse, call :mod:`kfm_gate.provenance.checkpoint`, print text or JSON, return the exit
code (0 ok, 1 a finding: the ledger does not extend the checkpoint, 2 the command could not
run: no key, an unreadable file, a ledger that does not verify before a checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from kfm_gate.errors import KfmGateError, LedgerError

_LEDGER = "mcp/ledger.jsonl"


def _ledger(args: argparse.Namespace) -> tuple[Any, Path]:
    """The ledger the command names, and the repository root (keys must stay outside it)."""
    from kfm_gate.provenance.ledger import Ledger

    root = Path(args.root).resolve()
    if not root.is_dir():
        raise KfmGateError(f"repository root {root} does not exist; pass --root DIR")
    return Ledger(Path(args.ledger) if args.ledger else root / _LEDGER, repo_root=root), root


def _print(doc: dict[str, Any] | str, out: TextIO) -> None:
    print(doc if isinstance(doc, str) else json.dumps(doc, indent=2, sort_keys=True), file=out)


def run_checkpoint(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``ledger checkpoint``: verify the ledger, sign a checkpoint, print it or write --out."""
    from kfm_gate.layout import atomic_write
    from kfm_gate.provenance.checkpoint import load_signing_key, take_checkpoint

    out = out or sys.stdout
    try:
        ledger, root = _ledger(args)
        key = load_signing_key(Path(args.key) if args.key else None, repo_root=root)
        checkpoint = take_checkpoint(ledger, key)
        if args.out:
            atomic_write(Path(args.out).resolve(), checkpoint.to_bytes())
    except KfmGateError as err:
        print(f"kfm-gate ledger checkpoint: {err}", file=sys.stderr)
        return 2
    if args.out:
        print(
            f"checkpoint of {checkpoint.size} entries, root {checkpoint.root_hash}, "
            f"key {checkpoint.key_id} -> {args.out}",
            file=out,
        )
    else:
        out.write(checkpoint.to_bytes().decode("utf-8"))
    return 0


def run_verify_checkpoint(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``ledger verify --checkpoint FILE``: the chain, then the checkpoint's consistency."""
    from kfm_gate.provenance.checkpoint import Checkpoint, check_checkpoint, load_verify_key

    out = out or sys.stdout
    try:
        ledger, root = _ledger(args)
        chain = ledger.verify(require_signatures=args.require_signatures)
        checkpoint = Checkpoint.read(Path(args.checkpoint))
        key = load_verify_key(Path(args.pubkey) if args.pubkey else None, repo_root=root)
        report = check_checkpoint(ledger, checkpoint, key)
    except KfmGateError as err:
        print(f"kfm-gate ledger verify: {err}", file=sys.stderr)
        return 2
    if args.format == "json":
        _print({"ok": chain.ok and report.ok, "chain": chain.to_dict(), **report.to_dict()}, out)
    else:
        _print(chain.render_text() + "\n" + report.render_text(), out)
    code: int = max(chain.exit_code, report.exit_code)
    return code


def run_prove(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``ledger prove --entry N`` or ``--from-checkpoint FILE``: print the proof (checked)."""
    from kfm_gate.provenance.checkpoint import Checkpoint, prove_consistency, prove_inclusion

    out = out or sys.stdout
    try:
        ledger, _ = _ledger(args)
        if args.entry is not None:
            proof: Any = prove_inclusion(ledger, args.entry)
        else:
            checkpoint = Checkpoint.read(Path(args.from_checkpoint))
            try:
                proof = prove_consistency(ledger, checkpoint)
            except LedgerError as err:  # the ledger does not extend the checkpoint: a finding
                print(f"kfm-gate ledger prove: {err}", file=sys.stderr)
                return 1
    except KfmGateError as err:
        print(f"kfm-gate ledger prove: {err}", file=sys.stderr)
        return 2
    if not proof.verify():  # pragma: no cover - the tree's own proof: a bug if it fails
        print("kfm-gate ledger prove: the proof does not verify", file=sys.stderr)
        return 2
    _print(proof.to_dict(), out)
    return 0


def add_ledger_commands(
    lsub: argparse._SubParsersAction,  # type: ignore[type-arg]
    *,
    verify: argparse.ArgumentParser,
) -> None:
    """Register ``checkpoint`` and ``prove`` under ``ledger``, and ``--checkpoint`` /
    ``--pubkey`` on its ``verify`` (which runs as before without them)."""
    verify.add_argument(
        "--checkpoint", help="a checkpoint kept earlier: fail if the ledger does not extend it"
    )
    verify.add_argument("--pubkey", help="public key of the checkpoint (ed25519, PEM or raw)")
    plain: Callable[[argparse.Namespace], int] = verify.get_default("func")

    def verify_func(args: argparse.Namespace) -> int:
        return run_verify_checkpoint(args) if args.checkpoint else plain(args)

    verify.set_defaults(func=verify_func)

    desc = "sign a checkpoint: the ledger's size, Merkle root and last hash (ed25519)"
    p = lsub.add_parser("checkpoint", help=desc, description=desc)
    p.add_argument("--ledger", help=f"ledger file (default: <root>/{_LEDGER})")
    p.add_argument("--key", help="ed25519 private key file outside the repository")
    p.add_argument("--out", help="write the checkpoint to this file (default: stdout)")
    p.set_defaults(func=run_checkpoint)

    desc = "print an inclusion proof (--entry) or a consistency proof (--from-checkpoint)"
    p = lsub.add_parser("prove", help=desc, description=desc)
    p.add_argument("--ledger", help=f"ledger file (default: <root>/{_LEDGER})")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--entry", type=int, metavar="N", help="entry seq N is in the ledger")
    which.add_argument(
        "--from-checkpoint", metavar="FILE", help="the ledger extends this checkpoint"
    )
    p.set_defaults(func=run_prove)


def run_outbox(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``lineage-outbox status|flush``: what is pending; deliver it now (in order)."""
    from kfm_gate.provenance.lineage import HttpLineageSink
    from kfm_gate.provenance.outbox import DEFAULT_RETRY, LineageOutbox, lineage_config

    out = out or sys.stdout
    try:
        root = Path(args.root).resolve()
        config = lineage_config({"openlineage": {"url": args.url}} if args.url else {})
        ol = config.get("openlineage")
        if args.outbox_command == "flush" and not ol:
            raise KfmGateError("no receiver: pass --url or set OPENLINEAGE_URL")
        sender = (
            HttpLineageSink(
                str(ol["url"]),
                endpoint=str(ol.get("endpoint", "api/v1/lineage")),
                api_key=ol.get("api_key"),
                retry=DEFAULT_RETRY,
            )
            if ol
            else None
        )
        outbox = LineageOutbox(root, sender)
        if args.outbox_command == "status":
            status = outbox.status()
            _print(
                status
                if args.format == "json"
                else f"lineage outbox {status['folder']}: {status['pending']} pending, "
                f"{status['rejected']} rejected"
                + (f"; last error: {status['error']}" if status["error"] else ""),
                out,
            )
            return 0 if not status["pending"] and not status["rejected"] else 1
        report = outbox.flush(force=True)
    except KfmGateError as err:
        print(f"kfm-gate lineage-outbox: {err}", file=sys.stderr)
        return 2
    _print(report.to_dict() if args.format == "json" else report.render_text(), out)
    return 0 if report.ok else 1


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``lineage-outbox status|flush`` on the CLI's subparsers."""
    desc = "OpenLineage events kept until the HTTP receiver takes them (mcp/lineage-outbox/)"
    p = sub.add_parser("lineage-outbox", help=desc, description=desc)
    osub = p.add_subparsers(dest="outbox_command", required=True, metavar="SUBCOMMAND")
    for name, help_ in (
        ("status", "count pending and rejected events (exit 1 when any)"),
        ("flush", "deliver the pending events now, in order (exit 1 when some remain)"),
    ):
        q = osub.add_parser(name, help=help_, description=help_)
        q.add_argument("--url", help="receiver base URL (default: $OPENLINEAGE_URL)")
        q.add_argument("--format", choices=("text", "json"), default="text")
        q.set_defaults(func=run_outbox)
