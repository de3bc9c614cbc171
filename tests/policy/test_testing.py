from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kfm_gate.errors import PolicyCompileError
from kfm_gate.policy.testing import check_policies, run_tests
from tests.helpers import REPO


def test_project_policy_suite_passes_with_coverage() -> None:
    report = run_tests(REPO / "policies", coverage=True)
    failures = [r for r in report.results if r.status != "pass"]
    assert not failures, failures
    assert report.passed >= 30
    assert report.coverage is not None and report.coverage >= 90


def test_a_filter_covers_only_the_selected_tests() -> None:
    """Coverage of a filtered run is what the selected tests reach, not their packages'."""
    full = run_tests(REPO / "policies", coverage=True)
    some = run_tests(REPO / "policies", coverage=True, name_filter="test_waiv")
    assert 0 < len(some.results) < len(full.results)
    assert all("test_waiv" in r.name for r in some.results)
    assert some.coverage is not None and full.coverage is not None
    assert some.coverage < full.coverage - 20


def test_project_policies_follow_conventions() -> None:
    assert check_policies(REPO / "policies") == []


def test_a_broken_rule_makes_tests_fail(tmp_path: Path) -> None:
    pol = tmp_path / "policies"
    shutil.copytree(REPO / "policies", pol)
    rego = pol / "kfm/gate/integrity.rego"
    # mutate the code_ref rule so it never fires: its tests must catch it
    text = rego.read_text().replace("not integrity_has_code_ref", "false")
    rego.write_text(text)
    report = run_tests(pol)
    failed = {r.name for r in report.results if r.status == "fail"}
    assert "test_integrity_code_ref_missing" in failed


def test_with_input_as_mocking_runs(tmp_path: Path) -> None:
    pol = tmp_path / "p"
    pol.mkdir()
    (pol / "a.rego").write_text(
        '# METADATA\n# title: A\npackage a\n\nallow if input.user == "alice"\n'
    )
    (pol / "a_test.rego").write_text(
        "package a_test\n\nimport data.a\n\n"
        'test_alice if a.allow with input as {"user": "alice"}\n\n'
        'test_bob_fails if a.allow with input as {"user": "bob"}\n\n'
        "test_error if 1 / 0 == 1\n"
    )
    report = run_tests(pol)
    status = {r.name: r.status for r in report.results}
    assert status["test_alice"] == "pass"
    assert status["test_bob_fails"] == "fail"
    assert status["test_error"] in ("fail", "error")
    assert not report.ok()


def test_check_reports_v0_with_location(tmp_path: Path) -> None:
    pol = tmp_path / "p"
    pol.mkdir()
    (pol / "old.rego").write_text('package old\n\ndeny[msg] {\n  msg := "x"\n}\n')
    with pytest.raises(PolicyCompileError) as info:
        check_policies(pol)
    assert info.value.location == "old.rego:3"


def test_check_reports_missing_test_file_and_metadata(tmp_path: Path) -> None:
    pol = tmp_path / "p"
    pol.mkdir()
    (pol / "a.rego").write_text("package a\n\nx := 1\n")
    findings = check_policies(pol)
    messages = " ".join(f.message for f in findings)
    assert "a_test.rego" in messages and "METADATA" in messages
