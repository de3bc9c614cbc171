"""``kfm-gate``: parse, call the library, render, exit.

Exit codes come from the result: 0 allow / pass, 1 deny / quarantine / error / fail,
2 the command itself could not run (bad arguments, unreadable files). No traceback reaches a
user: any failure is one line saying what failed and the fix (``--debug`` shows the stack).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kfm_gate.arguments import day_argument, repository_root
from kfm_gate.errors import KfmGateError, describe_failure

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _root(args: argparse.Namespace) -> Path:
    return repository_root(args.root)


def _policies(args: argparse.Namespace, root: Path) -> Path:
    return Path(args.policies).resolve() if getattr(args, "policies", None) else root / "policies"


# -- commands ----------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Gate the request, then settle its publication: an allow is published, a published
    partition that is now denied or held is withdrawn, an error changes nothing."""
    from kfm_gate.publication import Publisher
    from kfm_gate.runtime import build_default_gate

    root = _root(args)
    path = Path(args.request)
    if not path.is_file():
        print(f"kfm-gate: request file {path} does not exist", file=sys.stderr)
        return EXIT_USAGE
    gate = build_default_gate(
        root,
        policy_dir=_policies(args, root),
        as_of=args.as_of,
        force=args.force,
        options={"engine": args.engine, "opa_url": args.opa_url, "opa_timeout_s": args.opa_timeout},
    )
    try:
        run = gate.evaluate(path.read_bytes())
    finally:
        gate.close()
    publication: dict[str, Any] | None = None
    failed: KfmGateError | None = None
    try:
        done = Publisher(gate.layout, store=gate.store).settle(
            run.request, run.decision, recorded=run.recorded
        )
        publication = None if done is None else done.to_json_dict()
    except KfmGateError as err:
        failed = err
    _print_decision(run, args.format, publication, failed)
    if failed is not None:
        print(f"kfm-gate: publication failed: {failed}", file=sys.stderr)
        return EXIT_FAIL
    # an invalid request (wrong type, over a limit) is recorded, but could not be gated: exit 2
    return EXIT_USAGE if run.request is None else run.exit_code


def _print_decision(
    run: Any, fmt: str, publication: dict[str, Any] | None, failed: KfmGateError | None
) -> None:
    from kfm_gate.reporting import DecisionJsonRenderer, DecisionTextRenderer

    run_dir = run.run_dir if run.recorded else None
    if fmt == "json":
        doc = json.loads(
            DecisionJsonRenderer().render(run.decision, run_dir=run_dir, reused=run.reused)
        )
        doc["recorded"] = run.recorded
        doc["publication"] = publication
        doc["publication_error"] = None if failed is None else str(failed)
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return
    sys.stdout.write(
        DecisionTextRenderer().render(run.decision, run_dir=run_dir, reused=run.reused)
    )
    if not run.recorded:
        sys.stdout.write("  record: not written (the next evaluation decides again)\n")
    if publication is not None:
        state = publication["state"]
        what = "published" if state["status"] == "published" else "withdrawn"
        sys.stdout.write(
            f"  {what}: {state['stac_item']} (item v{state['item_version']}, "
            f"publication state v{state['version']}"
            + (", unchanged" if not publication["changed"] else "")
            + ")\n"
        )


def cmd_policy_check(args: argparse.Namespace) -> int:
    from kfm_gate.policy.testing import check_policies

    folder = Path(args.dir)
    findings = check_policies(folder)
    for f in findings:
        print(f"{folder / f.file}:{f.line}: {f.message}")
    if findings:
        print(f"{len(findings)} problem(s) in {folder}")
        return EXIT_FAIL
    print(f"policies in {folder}: parsed and compiled (OPA v1), conventions respected")
    return EXIT_OK


def cmd_policy_test(args: argparse.Namespace) -> int:
    from kfm_gate.policy.testing import run_tests

    folder = Path(args.dir)
    report = run_tests(
        folder, coverage=args.coverage or args.threshold is not None, name_filter=args.run
    )
    if args.format == "json":
        print(
            json.dumps(
                {
                    "results": [r.__dict__ for r in report.results],
                    "passed": report.passed,
                    "failed": report.failed,
                    "coverage": report.coverage,
                    "uncovered": report.uncovered,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        for r in report.results:
            if r.status != "pass" or args.verbose:
                extra = f": {r.message}" if r.message else ""
                print(f"{r.status.upper():5} {r.file}:{r.line} {r.package}.{r.name}{extra}")
        print(f"{report.passed} passed, {report.failed} failed")
        if report.coverage is not None:
            print(f"coverage: {report.coverage:.2f}%")
            for file, rows in report.uncovered.items():
                print(f"  not covered: {file}: lines {', '.join(map(str, rows))}")
    if not report.results:
        print(f"no test_* rules found in {folder}", file=sys.stderr)
    if args.threshold is not None and (report.coverage or 0) < args.threshold:
        print(
            f"coverage {report.coverage:.2f}% is below the threshold {args.threshold}%",
            file=sys.stderr,
        )
    return EXIT_OK if report.ok(args.threshold) else EXIT_FAIL


def cmd_policy_digest(args: argparse.Namespace) -> int:
    from kfm_gate.policy.bundle import load_policy_set

    policies = load_policy_set(Path(args.dir))
    print(policies.digest)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from kfm_gate.layout import Layout
    from kfm_gate.reporting import explain_run
    from kfm_gate.runs import RunStore

    root = _root(args)
    record = RunStore(Layout(root)).find(args.run_id)
    sys.stdout.write(explain_run(record.folder, _policies(args, root)))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from kfm_gate.models import export_json_schemas

    for path in export_json_schemas(Path(args.out)):
        print(path)
    return EXIT_OK


def cmd_ci(args: argparse.Namespace) -> int:
    from kfm_gate.audit import run_audit
    from kfm_gate.reporting.base import build_renderer

    renderer = build_renderer(args.format)  # unknown format: ConfigError, exit 2
    report = run_audit(_root(args), only=args.check or None)
    text = renderer.render(report)
    if args.out:
        from kfm_gate.layout import write_output

        write_output(Path(args.out), text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    return report.exit_code


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from kfm_gate.catalog.commands import run_ledger_verify

    return run_ledger_verify(
        _root(args),
        ledger_path=Path(args.ledger) if args.ledger else None,
        require_signatures=args.require_signatures,
        as_json=args.format == "json",
    )


def cmd_lineage(args: argparse.Namespace) -> int:
    from kfm_gate.catalog.commands import run_lineage

    return run_lineage(_root(args), args.entity, as_json=args.format == "json")


def cmd_diff(args: argparse.Namespace) -> int:
    from kfm_gate.catalog.commands import run_diff

    return run_diff(_root(args), args.a, args.b, as_json=args.format == "json")


def cmd_examples(args: argparse.Namespace) -> int:
    from kfm_gate.examples import run_examples

    root = _root(args)
    return run_examples(root, as_of=args.as_of, fmt=args.format)


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kfm-gate",
        description="Governance gate for Kansas Frontier Matrix partitions: evidence, "
        "FAIR+CARE policies in Rego (OPA), provenance.",
    )
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument(
        "--debug", action="store_true", help="show the stack trace when a command fails"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str, parent: Any = sub
    ) -> Any:
        p = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("evaluate", cmd_evaluate, "gate one promotion request and print the decision")
    p.add_argument("request", help="PromotionRequest JSON file")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--policies", help="policy folder (default: <root>/policies)")
    p.add_argument("--as-of", type=day_argument, help="evaluation day (default: today, UTC)")
    p.add_argument(
        "--force", action="store_true", help="re-evaluate even if a decision is recorded"
    )
    p.add_argument(
        "--engine",
        choices=("embedded", "opa"),
        default="embedded",
        help="embedded OPA (default) or an OPA server (--opa-url)",
    )
    p.add_argument("--opa-url", help="OPA server base URL, e.g. http://127.0.0.1:8181")
    p.add_argument(
        "--opa-timeout",
        type=float,
        help="seconds for each whole OPA server call, every read included (default 5)",
    )

    policy = add("policy", lambda a: EXIT_USAGE, "check, test and digest the Rego policy set")
    psub = policy.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    p = add("check", cmd_policy_check, "parse and compile every module (file:line errors)", psub)
    p.add_argument("dir", nargs="?", default="policies")
    p = add("test", cmd_policy_test, "run the Rego test_* rules with OPA semantics", psub)
    p.add_argument("dir", nargs="?", default="policies")
    p.add_argument("--coverage", action="store_true", help="report line coverage")
    p.add_argument("--threshold", type=float, help="fail below this coverage percentage")
    p.add_argument("--run", help="only tests whose package.name matches this regex")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    p = add("digest", cmd_policy_digest, "print the policy digest (the bundle revision)", psub)
    p.add_argument("dir", nargs="?", default="policies")
    from kfm_gate.policy.commands import add_commands as add_council_commands
    from kfm_gate.policy.commands import add_policy_commands

    add_policy_commands(psub)
    add_council_commands(sub)

    p = add("explain", cmd_explain, "explain a recorded run in plain language")
    p.add_argument("run_id", help="run id, run folder name, or a unique prefix")
    p.add_argument("--policies", help="policy folder (default: <root>/policies)")

    p = add("schema", cmd_schema, "export the JSON Schemas of the request and records")
    p.add_argument("--out", default="schemas", help="output folder (default: schemas)")

    ledger = add("ledger", lambda a: EXIT_USAGE, "the hash-chained decision ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")
    p = add("verify", cmd_ledger_verify, "verify the chain; name the first bad entry", lsub)
    p.add_argument("--ledger", help="ledger file (default: <root>/mcp/ledger.jsonl)")
    p.add_argument("--require-signatures", action="store_true", help="fail on unsigned entries")
    p.add_argument("--format", choices=("text", "json"), default="text")
    from kfm_gate.provenance.commands import add_ledger_commands

    add_ledger_commands(lsub, verify=p)

    p = add("lineage", cmd_lineage, "walk an entity back to its sources and processes")
    p.add_argument("entity", help="run id, decision id, STAC item id, file path or IRI")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = add("diff", cmd_diff, "what changed between two partitions (flags, evidence, outcome)")
    p.add_argument("a", help="run id, 'aoi|YYYY-MM-DD' or 'asset@aoi|YYYY-MM-DD'")
    p.add_argument("b", help="the other partition, same forms")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = add("ci", cmd_ci, "run the required CI validations over the repository")
    p.add_argument(
        "--format",
        default="text",
        help="text, json, markdown, github, sarif or junit (default: text)",
    )
    p.add_argument("--out", help="write the report to this file instead of stdout")
    p.add_argument("--check", action="append", help="run only this check (repeatable)")

    from kfm_gate.orchestration.commands import add_commands as add_pipeline_commands
    from kfm_gate.publication.commands import add_commands as add_publication_commands
    from kfm_gate.reporting.commands import add_commands as add_report_commands

    add_pipeline_commands(sub)
    add_publication_commands(sub)
    add_report_commands(sub)
    from kfm_gate.provenance.commands import add_commands as add_outbox_commands

    add_outbox_commands(sub)

    p = add("examples", cmd_examples, "gate the bundled example requests and print the decisions")
    p.add_argument("--as-of", type=day_argument, help="evaluation day (default: today, UTC)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def restart_with_go_gc(argv: Sequence[str], percent: int | None) -> None:
    """Re-run ``python argv...`` in a fresh process with ``GOGC=percent`` when the
    environment sets no ``GOGC`` (returns when nothing is to be done or it cannot restart).
    The embedded OPA is Go, which reads ``GOGC`` only from the environment the process
    started with."""
    if percent is None or "GOGC" in os.environ:
        return
    env = {**os.environ, "GOGC": str(percent)}
    with contextlib.suppress(OSError):  # cannot restart: run as is
        os.execve(sys.executable, [sys.executable, *argv], env)


def _restart_with_go_gc(args: argparse.Namespace) -> None:
    """This command line again with the Go GC percent its command declares (``policy
    impact``), unless GOGC is set."""
    restart_with_go_gc(["-m", "kfm_gate", *sys.argv[1:]], getattr(args, "go_gc_percent", None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:  # a real command line (tests pass argv and are never restarted)
        _restart_with_go_gc(args)
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        print("kfm-gate: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # every failure: one line and exit 2, the stack with --debug
        if args.debug:
            raise
        print(f"kfm-gate: {describe_failure(err)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
