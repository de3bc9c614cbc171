"""Policy checks and Rego unit tests (``test_*`` rules), with OPA semantics and coverage.

Tests run in the embedded OPA engine, so ``with input as`` / ``with data.x as`` mocking,
builtins and strict v1 parsing behave exactly as in ``opa test``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kfm_gate.errors import PolicyError
from kfm_gate.policy.bundle import PolicySet, load_policy_set

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]+)\b", re.MULTILINE)
_METADATA_TITLE = re.compile(r"^#\s+title:", re.MULTILINE)


@dataclass(frozen=True)
class TestResult:
    """One Rego test: where it is and how it went."""

    file: str
    line: int
    package: str
    name: str
    status: Literal["pass", "fail", "error"]
    message: str = ""
    duration_ms: float = 0.0


@dataclass
class TestReport:
    """All tests of a policy folder, and coverage when asked."""

    results: list[TestResult] = field(default_factory=list)
    coverage: float | None = None
    uncovered: dict[str, list[int]] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(r.status == "pass" for r in self.results)

    @property
    def failed(self) -> int:
        return sum(r.status != "pass" for r in self.results)

    def ok(self, threshold: float | None = None) -> bool:
        """All tests pass, there is at least one, and coverage meets ``threshold``."""
        if not self.results or self.failed:
            return False
        return threshold is None or (self.coverage is not None and self.coverage >= threshold)


@dataclass(frozen=True)
class CheckFinding:
    """A problem ``policy check`` found, with its file and line when known."""

    file: str
    line: int
    message: str


def discover_tests(policies: PolicySet) -> list[tuple[str, int, str, str]]:
    """(file, line, package, rule) of every ``test_*`` rule in the test modules."""
    found: dict[tuple[str, str], tuple[str, int, str, str]] = {}
    for rel, source in sorted(policies.tests.items()):
        pkg = _PACKAGE.search(source)
        if not pkg:
            continue
        for match in _TEST_RULE.finditer(source):
            line = source.count("\n", 0, match.start()) + 1
            key = (pkg.group(1), match.group(1))
            # A rule may have several bodies (incremental definition): report the first.
            found.setdefault(key, (rel, line, pkg.group(1), match.group(1)))
    return sorted(found.values())


def _rows(ranges: list[dict[str, Any]]) -> set[int]:
    rows: set[int] = set()
    for r in ranges or []:
        rows.update(range(int(r["start"]["row"]), int(r["end"]["row"]) + 1))
    return rows


def _merge_coverage(cov: Any, covered: dict[str, set[int]], uncovered: dict[str, set[int]]) -> None:
    for path, info in ((cov or {}).get("files") or {}).items():
        if path.endswith("_test.rego"):
            continue
        covered.setdefault(path, set()).update(_rows(info.get("covered", [])))
        uncovered.setdefault(path, set()).update(_rows(info.get("not_covered", [])))


def _run_one(
    engine: Any,
    rel: str,
    line: int,
    package: str,
    name: str,
    coverage: bool,
    covered: dict[str, set[int]],
    uncovered: dict[str, set[int]],
) -> TestResult:
    started = time.perf_counter()
    try:
        bindings, cov = engine.query(f"x = data.{package}.{name}", coverage=coverage)
    except PolicyError as err:
        elapsed = (time.perf_counter() - started) * 1000
        return TestResult(rel, line, package, name, "error", str(err), elapsed)
    ok = bool(bindings) and bindings[0].get("x") is True
    _merge_coverage(cov, covered, uncovered)
    return _result(rel, line, package, name, ok, (time.perf_counter() - started) * 1000)


def _result(rel: str, line: int, package: str, name: str, ok: bool, ms: float) -> TestResult:
    message = "" if ok else "test rule is false or undefined"
    return TestResult(rel, line, package, name, "pass" if ok else "fail", message, ms)


def run_tests(
    policy_dir: Path, *, coverage: bool = False, name_filter: str | None = None
) -> TestReport:
    """Run every ``test_*`` rule of ``policy_dir``; compile errors raise PolicyCompileError."""
    from kfm_gate.policy.engine import EmbeddedOpaEngine

    policies = load_policy_set(policy_dir)
    report = TestReport()
    covered: dict[str, set[int]] = {}
    uncovered: dict[str, set[int]] = {}
    with EmbeddedOpaEngine(policies, include_tests=True) as engine:
        every = discover_tests(policies)
        in_package: dict[str, int] = {}
        for test in every:
            in_package[test[2]] = in_package.get(test[2], 0) + 1
        by_package: dict[str, list[tuple[str, int, str, str]]] = {}
        for test in every:
            if not name_filter or re.search(name_filter, f"{test[2]}.{test[3]}"):
                by_package.setdefault(test[2], []).append(test)
        for package, tests in sorted(by_package.items()):
            # One query per package when all its tests are selected: OPA prepares (compiles)
            # each distinct query, so evaluating the package document once is far cheaper
            # than one query per test rule. A filtered package runs its selected tests only
            # (the package document would run, and cover, the others too).
            bindings = None
            if len(tests) == in_package[package]:
                started = time.perf_counter()
                try:
                    bindings, cov = engine.query(f"x = data.{package}", coverage=coverage)
                except PolicyError:
                    bindings = None  # a test raised: run them one by one to say which
            if bindings is not None:
                doc = bindings[0].get("x") if bindings else {}
                each = (time.perf_counter() - started) * 1000 / len(tests)
                for rel, line, pkg, name in tests:
                    ok = isinstance(doc, dict) and doc.get(name) is True
                    report.results.append(_result(rel, line, pkg, name, ok, each))
                _merge_coverage(cov, covered, uncovered)
                continue
            for rel, line, pkg, name in tests:
                report.results.append(
                    _run_one(engine, rel, line, pkg, name, coverage, covered, uncovered)
                )
    if coverage:
        total_cov = sum(len(v) for v in covered.values())
        missing = {p: sorted(rows - covered.get(p, set())) for p, rows in uncovered.items()}
        missing = {p: rows for p, rows in sorted(missing.items()) if rows}
        total_missing = sum(len(v) for v in missing.values())
        denominator = total_cov + total_missing
        report.coverage = round(100.0 * total_cov / denominator, 2) if denominator else 0.0
        report.uncovered = missing
    return report


def check_policies(policy_dir: Path) -> list[CheckFinding]:
    """Parse and compile every module (tests included) and lint the folder's conventions.

    A parse or compile error raises PolicyCompileError (with ``file:line``); convention
    problems (a module without its ``_test.rego``, a module without METADATA) are findings.
    """
    from kfm_gate.policy.engine import EmbeddedOpaEngine

    policies = load_policy_set(policy_dir)
    EmbeddedOpaEngine(policies, include_tests=True).close()
    findings: list[CheckFinding] = []
    for rel, source in sorted(policies.modules.items()):
        test_rel = rel.removesuffix(".rego") + "_test.rego"
        if test_rel not in policies.tests:
            findings.append(CheckFinding(rel, 1, f"no test file: add {test_rel} beside it"))
        if not _METADATA_TITLE.search(source):
            findings.append(
                CheckFinding(rel, 1, "no '# METADATA' block with a title: document each rule")
            )
    return findings
