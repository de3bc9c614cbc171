from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kfm_gate.cli import main
from tests.helpers import REPO, dump, make_request, public_flags, scratch_repo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path)


def _evaluate(root: Path, doc: dict[str, object], *extra: str) -> int:
    req = root / "req.json"
    req.write_bytes(dump(doc))
    return main(["--root", str(root), "evaluate", str(req), "--as-of", "2026-11-25", *extra])


def test_evaluate_allow_exit_0_and_json_top_level(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _evaluate(root, make_request(root), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "allow"
    assert doc["run_id"].startswith("run:kfm-gate:")
    assert doc["decision_id"].startswith("decision:kfm-gate:")


def test_evaluate_deny_and_quarantine_exit_1(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _evaluate(root, make_request(root, code_ref="")) == 1
    assert "POLICY_INPUT_INCOMPLETE" in capsys.readouterr().out
    flags = public_flags(tk_labels=["tkss"])
    assert _evaluate(root, make_request(root, flags=flags, code_ref="x1")) == 1
    assert capsys.readouterr().out.startswith("QUARANTINE")


def test_evaluate_malformed_request_is_error_exit_2(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded as outcome error, and the command could not gate it: exit 2 (issue #12)."""
    req = root / "req.json"
    req.write_text("{not json")
    assert main(["--root", str(root), "evaluate", str(req)]) == 2
    out = capsys.readouterr().out
    assert out.startswith("ERROR")


def test_unusable_arguments_exit_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(root), "evaluate", str(root / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "x.json", "--format", "yaml"])
    assert info.value.code == 2
    assert main(["--root", str(root / "nope"), "explain", "run"]) == 2


def test_policy_check_and_test(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["policy", "check", str(REPO / "policies")]) == 0
    assert main(["policy", "test", str(REPO / "policies"), "--coverage", "--threshold", "90"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "coverage:" in out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "old.rego").write_text('package old\n\ndeny[msg] {\n  msg := "x"\n}\n')
    assert main(["policy", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "old.rego:3" in err and err.count("\n") <= 4


def test_policy_test_threshold_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(REPO / "policies"), "--threshold", "100.5"]) == 1


def test_explain_tells_why(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _evaluate(root, make_request(root, code_ref=""), "--format", "json")
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["--root", str(root), "explain", run_id]) == 0
    text = capsys.readouterr().out
    assert "DENY" in text and "code_ref" in text and "Code reference" in text
    assert main(["--root", str(root), "explain", run_id.replace(":", "_")[:20]]) == 0


def test_help_starts_without_heavy_imports() -> None:
    code = (
        "import sys, kfm_gate.cli\n"
        "heavy = {'dagster', 'great_expectations', 'presidio_analyzer', 'spacy', 'rdflib', 'pystac', 'pandas', 'opa_bindings'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_policy_impact_restarts_with_go_gc(monkeypatch: pytest.MonkeyPatch) -> None:
    """``policy impact`` from a real command line restarts with GOGC (Go reads it at start
    only); a set GOGC, other commands and in-process calls with argv are left alone."""
    import kfm_gate.cli as cli
    from kfm_gate.policy.commands import IMPACT_GO_GC_PERCENT

    calls: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(cli.os, "execve", lambda exe, argv, env: calls.append((exe, argv, env)))
    monkeypatch.setattr(sys, "argv", ["kfm-gate", "policy", "impact", "--base-dir", "b"])
    monkeypatch.delenv("GOGC", raising=False)
    impact = cli.build_parser().parse_args(["policy", "impact", "--base-dir", "b"])
    cli._restart_with_go_gc(impact)
    ((exe, argv, env),) = calls
    assert exe == sys.executable
    assert argv == [sys.executable, "-m", "kfm_gate", "policy", "impact", "--base-dir", "b"]
    assert env["GOGC"] == str(IMPACT_GO_GC_PERCENT)
    calls.clear()
    cli._restart_with_go_gc(cli.build_parser().parse_args(["policy", "check"]))
    monkeypatch.setenv("GOGC", "100")
    cli._restart_with_go_gc(impact)
    assert calls == []


# -- no traceback reaches a user (issue #12, item 11) ---------------------------------------------


def _one_line_exit_2(code: int, capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("kfm-gate:")]
    assert len(lines) == 1 and fragment in lines[0], err


def test_runs_folder_that_is_a_file_is_one_line(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "mcp").mkdir()
    (root / "mcp/runs").write_text("a file")
    code = _evaluate(root, make_request(root))
    _one_line_exit_2(code, capsys, "a part of the path is a file where a folder is expected")


def test_report_into_a_missing_folder_is_one_line(
    root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "missing/dir/x.sarif"
    code = main(
        ["--root", str(root), "ci", "--check", "waivers", "--format", "sarif", "--out", str(out)]
    )
    _one_line_exit_2(code, capsys, "does not exist: create it first")
    assert not out.parent.exists()


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_stack(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kfm_gate.runtime

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(kfm_gate.runtime, "build_default_gate", broken)
    code = _evaluate(root, make_request(root))
    _one_line_exit_2(code, capsys, "internal error ZeroDivisionError: division by zero")
    req = root / "req.json"
    with pytest.raises(ZeroDivisionError):
        main(["--root", str(root), "--debug", "evaluate", str(req)])


def test_a_deep_request_file_is_an_error_not_a_traceback(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = root / "deep.json"
    req.write_text("[" * 100_000)
    code = main(["--root", str(root), "evaluate", str(req), "--format", "json"])
    assert code == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "error" and "limit depth" in doc["error"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--opa-url", "http://127.0.0.1:8181"), "opa_url is set but the engine is 'embedded'"),
        (("--opa-timeout", "3"), "opa_timeout_s is set but the engine is 'embedded'"),
        (("--engine", "opa"), "needs opa_url"),
        (("--policies", "/nonexistent/policies"), "policy folder /nonexistent/policies"),
    ],
)
def test_a_wrong_explicit_setting_fails(
    root: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], fragment: str
) -> None:
    code = _evaluate(root, make_request(root), *extra)
    _one_line_exit_2(code, capsys, fragment)
    assert not (root / "mcp/runs").exists()


def test_ledger_verify_of_a_named_missing_file_fails(
    root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--ledger /nonexistent.jsonl`` printed ``OK, 0 entries`` and exited 0."""
    code = main(["--root", str(root), "ledger", "verify", "--ledger", str(tmp_path / "none.jsonl")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    (root / "mcp").mkdir()
    (root / "mcp/ledger.jsonl").write_text("")
    (root / "mcp/ledger.head.json").write_text('{"count": 2, "hash": "sha256:' + "0" * 64 + '"}')
    assert main(["--root", str(root), "ledger", "verify"]) == 1
    assert "the head records 2 entries, the file has 0" in capsys.readouterr().out
