"""CLI commands of the council's tooling: ``policy bundle``, ``policy impact``, ``waiver list``,
``waiver check``.

Registered by ``kfm_gate.cli``: :func:`add_policy_commands` under ``policy``, :func:`add_commands`
at the top level. Same conventions as the rest of the CLI: text to stdout, exit 0 pass / 1 fail,
KfmGateError (exit 2) when the command itself cannot run. Heavy modules load inside commands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfm_gate.arguments import day_argument
from kfm_gate.errors import ConfigError, KfmGateError

EXIT_OK, EXIT_FAIL = 0, 1
IMPACT_FORMATS = ("text", "markdown", "json")
WAIVER_FORMATS = ("text", "markdown", "json")
WAIVER_STATUSES = ("active", "expired", "not_yet_valid")


def _root(args: argparse.Namespace) -> Path:
    root = Path(getattr(args, "root", ".")).resolve()
    if not root.is_dir():
        raise KfmGateError(f"repository root {root} does not exist; pass --root DIR")
    return root


def _emit(text: str, out: str | None) -> None:
    if out:
        from kfm_gate.layout import write_output

        write_output(Path(out), text.encode("utf-8"), make_dirs=True)
    else:
        sys.stdout.write(text)


# -- policy bundle ---------------------------------------------------------------------------


def cmd_policy_bundle(args: argparse.Namespace) -> int:
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.bundle_writer import write_bundle

    policies = load_policy_set(Path(args.dir))
    if args.check:
        from kfm_gate.policy.engine import EmbeddedOpaEngine

        EmbeddedOpaEngine(policies).close()  # PolicyCompileError (exit 2) before writing
    info = write_bundle(policies, Path(args.out), include_tests=args.include_tests)
    print(f"wrote {info.path} ({info.size} bytes, {len(info.entries)} entries)")
    print(f"revision {info.revision}")
    print("roots ['kfm']; load with: opa run --server --bundle " + str(info.path))
    return EXIT_OK


# -- policy impact ---------------------------------------------------------------------------

#: Go's GOGC for the replay's embedded OPA (the CLI restarts itself with it when GOGC is unset):
#: the replay allocates a fresh input per case and Go's collector took about a third of OPA's
#: CPU at the default of 100; 400 cuts CPU per decision by ~17% for ~80 MB more memory
IMPACT_GO_GC_PERCENT = 400


def cmd_policy_impact(args: argparse.Namespace) -> int:
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.impact import RENDERERS, policies_at_revision, replay_runs

    if args.format not in RENDERERS:
        raise ConfigError(f"--format {args.format!r}: use one of {', '.join(RENDERERS)}")
    if bool(args.base) == bool(args.base_dir):
        raise ConfigError("policy impact needs exactly one of --base GIT_REV or --base-dir DIR")
    root = _root(args)
    head_dir = Path(args.dir)
    head = load_policy_set(head_dir)
    head_label = args.head_label or f"working tree {head_dir}"
    if args.base_dir:
        base = load_policy_set(Path(args.base_dir))
        report = replay_runs(
            root, base, head, base_label=str(args.base_dir), head_label=head_label, as_of=args.as_of
        )
    else:
        with policies_at_revision(head_dir, args.base) as base:
            report = replay_runs(
                root, base, head, base_label=args.base, head_label=head_label, as_of=args.as_of
            )
    _emit(RENDERERS[args.format]().render(report), args.out)
    return report.exit_code(fail_on_flip=args.fail_on_flip)


# -- waiver list -----------------------------------------------------------------------------


def _waiver_rows(policy_dir: Path, today: dt.date) -> list[dict[str, Any]]:
    from kfm_gate.policy.waivers import load_waivers

    rows = []
    for waiver in load_waivers(policy_dir, check_policy=False):
        doc = waiver.to_json_dict()
        doc["status"] = waiver.status(today)
        doc["days_left"] = (waiver.expires - today).days
        rows.append(doc)
    return rows


def render_waivers(rows: list[dict[str, Any]], fmt: str, today: dt.date) -> str:
    """The waiver table as text, markdown or JSON."""
    if fmt == "json":
        return json.dumps({"as_of": today.isoformat(), "waivers": rows}, indent=2) + "\n"
    counts = {s: sum(r["status"] == s for r in rows) for s in WAIVER_STATUSES}
    summary = (
        f"{len(rows)} waiver(s) as of {today.isoformat()}: {counts['active']} active, "
        f"{counts['expired']} expired, {counts['not_yet_valid']} not yet valid"
    )

    def scope(r: dict[str, Any]) -> str:
        s = r["scope"]
        aois = ",".join(s.get("aois") or []) or "every AOI"
        span = f"{s.get('from') or '…'}..{s.get('to') or '…'}"
        return f"{s['asset']} / {aois} / {span} / rules {','.join(s['rules'])}"

    if fmt == "markdown":
        lines = [
            "## Waivers",
            "",
            summary,
            "",
            "| Status | Id | Scope | Approver | Created | Expires | Reason |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            cells = [
                r["status"],
                f"`{r['id']}`",
                scope(r),
                r["approver"],
                r["created"],
                r["expires"],
                r["reason"],
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n"
    lines = [summary]
    for r in rows:
        when = (
            f"expires {r['expires']} ({r['days_left']} day(s) left)"
            if r["status"] == "active"
            else f"expired {r['expires']}"
            if r["status"] == "expired"
            else f"valid from {r['created']} to {r['expires']}"
        )
        lines.append(f"{r['status'].upper():13} {r['id']}  {when}")
        lines.append(f"              scope: {scope(r)}")
        lines.append(f"              approver: {r['approver']}; reason: {r['reason']}")
    return "\n".join(lines) + "\n"


def cmd_waiver_list(args: argparse.Namespace) -> int:
    root = _root(args)
    policy_dir = Path(args.policies).resolve() if args.policies else root / "policies"
    if not policy_dir.is_dir():
        raise ConfigError(f"policy folder {policy_dir} does not exist; pass --policies DIR")
    today = args.as_of or dt.datetime.now(dt.UTC).date()
    rows = _waiver_rows(policy_dir, today)
    if args.status:
        rows = [r for r in rows if r["status"] in args.status]
    _emit(render_waivers(rows, args.format, today), None)
    return EXIT_OK


def cmd_waiver_check(args: argparse.Namespace) -> int:
    """Every waiver against the roster, the waivable rules and the rules of the policy set."""
    from kfm_gate.policy.waivers import load_waiver_policy, read_waivers, waiver_problems

    root = _root(args)
    policy_dir = Path(args.policies).resolve() if args.policies else root / "policies"
    if not policy_dir.is_dir():
        raise ConfigError(f"policy folder {policy_dir} does not exist; pass --policies DIR")
    found = read_waivers(policy_dir)  # a file that does not parse: InputError, exit 2
    policy = load_waiver_policy(policy_dir)
    bad = 0
    for path, waiver in found:
        problems = waiver_problems(waiver, policy)
        bad += bool(problems)
        status = "INVALID" if problems else "OK"
        print(f"{status:8} {waiver.id} ({path.relative_to(policy_dir).as_posix()})")
        for problem in problems:
            print(f"         - {problem}")
    print(
        f"{len(found)} waiver(s) checked against {len(policy.roster)} roster member(s) and "
        f"{len(policy.waivable_rules)} waivable rule(s): {bad} invalid"
    )
    return EXIT_FAIL if bad else EXIT_OK


# -- registration ----------------------------------------------------------------------------


def _add(
    parent: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
    p.set_defaults(func=func)
    return p


def add_policy_commands(psub: Any) -> None:
    """``policy bundle`` and ``policy impact`` under the existing ``policy`` subparsers."""
    p = _add(psub, "bundle", cmd_policy_bundle, "write the policy set as an OPA bundle (.tar.gz)")
    p.add_argument("dir", nargs="?", default="policies")
    p.add_argument("--out", required=True, help="bundle file to write, e.g. build/bundle.tar.gz")
    p.add_argument("--include-tests", action="store_true", help="also pack the *_test.rego files")
    p.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="do not compile the policies before writing",
    )

    p = _add(
        psub,
        "impact",
        cmd_policy_impact,
        "replay every recorded decision under the base and the working policies; list flips",
    )
    p.add_argument(
        "dir", nargs="?", default="policies", help="working policies (default: policies)"
    )
    p.add_argument("--base", help="git revision of the base policies (e.g. origin/main)")
    p.add_argument("--base-dir", help="a folder holding the base policies (instead of --base)")
    p.add_argument("--head-label", help="name of the working policies in reports")
    p.add_argument("--format", choices=IMPACT_FORMATS, default="text")
    p.add_argument("--out", help="write the report to this file instead of stdout")
    p.add_argument(
        "--as-of", type=day_argument, help="evaluate every run on this day (default: its own)"
    )
    p.add_argument(
        "--fail-on-flip", action="store_true", help="exit 1 when any partition changes outcome"
    )
    p.set_defaults(go_gc_percent=IMPACT_GO_GC_PERCENT)


def add_commands(sub: Any) -> None:
    """Top-level ``waiver`` command (``waiver list``, ``waiver check``)."""
    waiver = _add(sub, "waiver", lambda a: 2, "the council's waivers (policies/waivers/*.yml)")
    wsub = waiver.add_subparsers(dest="waiver_command", required=True, metavar="SUBCOMMAND")
    p = _add(wsub, "list", cmd_waiver_list, "list waivers: active, expired and not yet valid")
    p.add_argument("--policies", help="policy folder (default: <root>/policies)")
    p.add_argument(
        "--as-of", type=day_argument, help="day the status is computed for (default: today)"
    )
    p.add_argument("--format", choices=WAIVER_FORMATS, default="text")
    p.add_argument(
        "--status",
        action="append",
        choices=WAIVER_STATUSES,
        help="only waivers with this status (repeatable)",
    )
    p = _add(
        wsub,
        "check",
        cmd_waiver_check,
        "check every waiver against the council roster, the waivable rules and the policy set",
    )
    p.add_argument("--policies", help="policy folder (default: <root>/policies)")
