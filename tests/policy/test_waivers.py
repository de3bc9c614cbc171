"""The waiver loader and ``kfm-gate waiver check`` against the council's roster and the
waivable rules (issue #12, item 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kfm_gate.errors import InputError
from kfm_gate.policy.waivers import load_waiver_policy, load_waivers, waiver_problems
from tests.policy.cli_harness import run_cli

REPO = Path(__file__).resolve().parents[2]
WAIVER = """id: {id}
scope:
  asset: '{asset}'
  rules: [{rules}]
reason: '{reason}'
approver: '{approver}'
created: 2026-11-01
expires: 2026-12-31
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / "policies"
    shutil.copytree(REPO / "policies", folder)
    return folder


def _write(policy_dir: Path, **values: str) -> None:
    doc = {
        "id": "w-test",
        "asset": "*",
        "rules": "integrity.code_ref",
        "reason": "legacy survey before SHAs",
        "approver": "fair-care-council",
        **values,
    }
    (policy_dir / "waivers" / "test.yml").write_text(WAIVER.format(**doc))


def test_a_valid_waiver_loads(policy_dir: Path) -> None:
    _write(policy_dir, approver="  data-steward ")
    ids = [w.id for w in load_waivers(policy_dir)]
    assert "w-test" in ids


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"approver": "someone-else"}, "not a member of the council roster"),
        ({"rules": "flags.unknown"}, "may not be waived"),
        ({"rules": "geo.unchanged_in_zones"}, "may not be waived"),
        ({"rules": "pii.entity_reported"}, "may not be waived"),
        ({"rules": "SENSITIVITY_UNRESOLVED"}, "not a rule id of the policy set"),
        ({"rules": "integrity.code_reff"}, "not a rule id of the policy set"),
        ({"rules": "'*'"}, "is a wildcard"),
        ({"reason": "too short"}, "shorter than 10 characters"),
    ],
)
def test_an_invalid_waiver_is_refused_with_its_problem(
    policy_dir: Path, values: dict[str, str], problem: str
) -> None:
    _write(policy_dir, **values)
    with pytest.raises(InputError, match=problem) as info:
        load_waivers(policy_dir)
    assert "\n" not in str(info.value)
    load_waivers(policy_dir, check_policy=False)  # on its own the waiver is well formed


@pytest.mark.parametrize("approver", ["   ", "--", "-"])
def test_a_blank_approver_is_refused_by_the_model(policy_dir: Path, approver: str) -> None:
    _write(policy_dir, approver=approver)
    with pytest.raises(InputError, match="approver"):
        load_waivers(policy_dir, check_policy=False)


def test_every_problem_of_every_waiver_is_listed(policy_dir: Path) -> None:
    _write(policy_dir, approver="nobody", rules="flags.unknown, integrity.code_ref, x.y")
    with pytest.raises(InputError) as info:
        load_waivers(policy_dir)
    message = str(info.value)
    assert message.startswith("3 waiver problem(s)")
    for part in ("nobody", "flags.unknown", "x.y"):
        assert part in message


def test_the_council_cannot_list_a_never_waivable_rule_as_waivable(policy_dir: Path) -> None:
    path = policy_dir / "data/waivers.json"
    doc = json.loads(path.read_text())
    doc["waivable_rules"].append("flags.unknown")
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="never-waivable prefix covers"):
        load_waiver_policy(policy_dir)


def test_waivers_without_the_council_data_are_refused(policy_dir: Path) -> None:
    (policy_dir / "data/waivers.json").unlink()
    with pytest.raises(InputError, match="must declare which rules are waivable"):
        load_waivers(policy_dir)


def test_the_policy_knows_the_rule_ids_of_the_set(policy_dir: Path) -> None:
    policy = load_waiver_policy(policy_dir)
    assert {"flags.unknown", "integrity.code_ref", "geo.coordinate_fields"} <= policy.known_rules
    assert policy.waivable("integrity.code_ref") and not policy.waivable("flags.unknown")
    (waiver,) = [w for w in load_waivers(REPO / "policies")]
    assert waiver_problems(waiver, load_waiver_policy(REPO / "policies")) == []


def test_waiver_check_command(policy_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(policy_dir.parent)
    assert run_cli(["--root", root, "waiver", "check"]) == 0
    assert "0 invalid" in capsys.readouterr().out
    _write(policy_dir, approver="nobody", rules="flags.unknown")
    assert run_cli(["--root", root, "waiver", "check"]) == 1
    out = capsys.readouterr().out
    assert "INVALID  w-test (waivers/test.yml)" in out
    assert "not a member of the council roster" in out and "may not be waived" in out
    (policy_dir / "waivers" / "test.yml").write_text("id: [broken\n")
    assert run_cli(["--root", root, "waiver", "check"]) == 2
