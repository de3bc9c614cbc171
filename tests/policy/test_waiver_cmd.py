"""``kfm-gate waiver list``: active, expired and not-yet-valid waivers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.policy.cli_harness import run_cli

_WAIVERS = {
    "active.yml": """id: active-one
scope: {asset: kfm/historic_sites/public, aois: [ks-county-20045], from: 2026-01-01,
        to: 2026-12-31, rules: [integrity.code_ref]}
reason: Legacy survey digitised before SHAs were recorded.
approver: fair-care-council
created: 2026-11-01
expires: 2027-03-31
""",
    "old.yml": """- id: expired-one
  scope: {asset: '*', rules: [PII_FOUND]}
  reason: One-off release reviewed by the council.
  approver: steward-a
  created: 2025-01-01
  expires: 2025-06-30
- id: future-one
  scope: {asset: '*', rules: [quality.min_rows]}
  reason: Next season's survey.
  approver: steward-b
  created: 2027-01-01
  expires: 2027-02-01
""",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repo/policies/waivers"
    folder.mkdir(parents=True)
    for name, text in _WAIVERS.items():
        (folder / name).write_text(text)
    return tmp_path / "repo"


def test_list_shows_every_status(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--root", str(root), "waiver", "list", "--as-of", "2026-11-25"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "3 waiver(s) as of 2026-11-25: 1 active, 1 expired, 1 not yet valid"
    )
    assert "ACTIVE        active-one  expires 2027-03-31 (126 day(s) left)" in out
    assert "EXPIRED       expired-one  expired 2025-06-30" in out
    assert "NOT_YET_VALID future-one  valid from 2027-01-01 to 2027-02-01" in out
    assert "kfm/historic_sites/public / ks-county-20045 / 2026-01-01..2026-12-31" in out


def test_status_changes_with_the_day(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--root", str(root), "waiver", "list", "--format", "json"]
    assert run_cli([*args, "--as-of", "2027-01-15"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {w["id"]: w["status"] for w in doc["waivers"]} == {
        "active-one": "active",
        "expired-one": "expired",
        "future-one": "active",
    }
    assert run_cli([*args, "--as-of", "2027-04-01", "--status", "expired"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [w["id"] for w in doc["waivers"]] == ["active-one", "expired-one", "future-one"]


def test_markdown(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--root", str(root), "waiver", "list", "--format", "markdown", "--as-of", "2026-11-25"]
    assert run_cli(args) == 0
    md = capsys.readouterr().out
    assert md.startswith("## Waivers")
    assert "| active | `active-one` |" in md


def test_invalid_waiver_is_exit_2(root: Path) -> None:
    (root / "policies/waivers/bad.yml").write_text(
        "id: bad\nscope: {asset: x, rules: [r]}\nreason: r\napprover: a\n"
        "created: 2026-02-01\nexpires: 2026-01-01\n"
    )
    assert run_cli(["--root", str(root), "waiver", "list"]) == 2


def test_missing_policy_folder_is_exit_2(tmp_path: Path) -> None:
    assert run_cli(["--root", str(tmp_path), "waiver", "list"]) == 2


def test_project_waivers_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert run_cli(["--root", str(repo), "waiver", "list", "--as-of", "2026-11-25"]) == 0
    assert "waiver(s) as of 2026-11-25" in capsys.readouterr().out
