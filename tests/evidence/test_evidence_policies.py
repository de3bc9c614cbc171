"""The pii, quality and secrets Rego rules pass their tests in the embedded OPA."""

from __future__ import annotations

import pytest

from kfm_gate.policy.testing import run_tests
from tests.evidence.conftest import REPO


@pytest.mark.parametrize("topic", ["pii", "quality", "secrets"])
def test_topic_rego_tests_pass(topic: str) -> None:
    report = run_tests(REPO / "policies", name_filter=rf"\.test_{topic}_")
    assert report.results, f"no test_{topic}_* rules found"
    failed = [(r.name, r.message) for r in report.results if r.status != "pass"]
    assert not failed


def test_every_topic_file_has_its_test() -> None:
    base = REPO / "policies" / "kfm" / "gate"
    for topic in ("pii", "quality", "secrets"):
        assert (base / f"{topic}.rego").is_file()
        assert (base / f"{topic}_test.rego").is_file()


def test_params_files_exist() -> None:
    for topic in ("pii", "quality", "secrets"):
        assert (REPO / "policies" / "data" / f"{topic}.json").is_file()
