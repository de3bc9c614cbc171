"""``kfm-gate policy impact``: replay recorded decisions under base and working policies.

Runs are recorded by the real gate over a small, fixed policy set (so the expected flips do
not move when the council's own policies change); the base is taken from git.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.gate import build_gate
from kfm_gate.policy import load_policy_set
from kfm_gate.policy.impact import (
    ImpactMarkdownRenderer,
    ImpactTextRenderer,
    load_case,
    policies_at_revision,
    replay_runs,
)
from tests.helpers import REPO, dump, make_request, public_flags
from tests.policy.cli_harness import run_cli

AS_OF = dt.date(2026, 11, 25)

_POLICY = """package kfm.gate

obligations contains {"code": "ATTACH_RIGHTS_NOTICE", "kind": "notice", "params": {},
  "reason": "licence", "rule": "licence.notice", "sources": []} if {
	input.request.params.cells > data.kfm.params.limits.notice_cells
}

violation contains {"rule": "size.max_cells", "code": "TOO_LARGE", "msg": "too many cells",
  "severity": "high", "details": {"cells": input.request.params.cells}} if {
	input.request.params.cells > data.kfm.params.limits.max_cells
}

violation contains {"rule": "integrity.checksums", "code": "EVIDENCE_UNRESOLVED",
  "msg": "no checksum evidence", "severity": "high", "details": {}} if {
	not input.evidence.checksums
}

quarantine contains {"rule": "care.tk", "code": "CONSENT_REQUIRED", "msg": "council review",
  "severity": "high", "details": {}} if {
	some label in input.flags.tk_labels
	label in data.kfm.params.limits.review_labels
}

outcome := "deny" if {
	count(violation) > 0
} else := "quarantine" if {
	count(quarantine) > 0
} else := "allow"

decision := {"outcome": outcome, "violations": [v | some v in violation], "warnings": [],
  "waived": [], "quarantine": [q | some q in quarantine]}
"""

#: cells per partition day; max_cells 10 in the base
CELLS = {1: 3, 2: 8, 3: 10, 4: 12, 5: 9, 6: 40}


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    return out.strip()


def _limits(root: Path, **values: Any) -> None:
    doc = {"max_cells": 10, "notice_cells": 100, "review_labels": ["tkss"]}
    doc.update(values)
    (root / "policies/data/limits.json").write_text(json.dumps(doc, indent=2) + "\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the fixed policies committed and six recorded runs."""
    root = tmp_path / "repo"
    (root / "policies/kfm/gate").mkdir(parents=True)
    (root / "policies/data").mkdir()
    (root / "policies/kfm/gate/fixed.rego").write_text(_POLICY)
    _limits(root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "council@example.org")
    _git(root, "config", "user.name", "Council")
    _git(root, "add", "policies")
    _git(root, "commit", "-q", "-m", "base policies")
    gate = build_gate(root, as_of=AS_OF)
    for day, cells in CELLS.items():
        flags = public_flags(tk_labels=["tkss"]) if day == 5 else None
        doc = make_request(root, flags=flags, params={"cells": cells})
        doc["partition"]["time_key"] = f"2026-11-0{day}"
        run = gate.evaluate(dump(doc))
        assert run.decision.outcome != "error", run.decision.error
    gate.close()
    return root


def _runs(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / "mcp/runs").iterdir() if (p / "decision.json").is_file())


def _outcomes(repo: Path) -> dict[str, str]:
    out = {}
    for folder in _runs(repo):
        d = json.loads((folder / "decision.json").read_text())
        out[d["partition"]["time_key"]] = d["outcome"]
    return out


def test_threshold_edit_lists_exactly_the_partitions_that_flip(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = _outcomes(repo)
    assert recorded == {
        "2026-11-01": "allow",
        "2026-11-02": "allow",
        "2026-11-03": "allow",
        "2026-11-04": "deny",
        "2026-11-05": "quarantine",
        "2026-11-06": "deny",
    }
    _limits(repo, max_cells=8)  # the council lowers the threshold
    code = run_cli(
        ["--root", str(repo), "policy", "impact", str(repo / "policies"), "--base", "HEAD"]
    )
    text = capsys.readouterr().out
    assert code == 0
    flips = [line for line in text.splitlines() if line.startswith("FLIP")]
    assert len(flips) == 2, text
    assert "ks-county-20045|2026-11-03  allow -> deny  +size.max_cells" in flips[0]
    assert "ks-county-20045|2026-11-05  quarantine -> deny  +size.max_cells -care.tk" in flips[1]
    assert "replayed 6 recorded decision(s) of 6 run(s)" in text
    # --fail-on-flip turns flips into exit 1
    args = ["--root", str(repo), "policy", "impact", str(repo / "policies"), "--base", "HEAD"]
    assert run_cli([*args, "--fail-on-flip"]) == 1


def test_raising_the_threshold_flips_the_other_way(repo: Path) -> None:
    _limits(repo, max_cells=12, review_labels=[])
    with policies_at_revision(repo / "policies", "HEAD") as base:
        report = replay_runs(repo, base, load_policy_set(repo / "policies"))
    got = {(f.case.time_key, f.before.outcome, f.after.outcome) for f in report.flips}
    assert got == {("2026-11-04", "deny", "allow"), ("2026-11-05", "quarantine", "allow")}
    assert report.base_digest != report.head_digest


def test_no_change_no_flip(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--root", str(repo), "policy", "impact", str(repo / "policies"), "--base", "HEAD"]
    assert run_cli([*args, "--fail-on-flip"]) == 0
    assert "identical" in capsys.readouterr().out


def test_obligation_change_is_noted(repo: Path) -> None:
    _limits(repo, notice_cells=9, max_cells=12)
    with policies_at_revision(repo / "policies", "HEAD") as base:
        report = replay_runs(repo, base, load_policy_set(repo / "policies"))
    flips = {f.case.time_key: f for f in report.flips}
    assert set(flips) == {"2026-11-04"}
    assert flips["2026-11-04"].obligations_changed
    assert "obligations changed" in ImpactTextRenderer().render(report)


def test_markdown_and_json(repo: Path, tmp_path: Path) -> None:
    _limits(repo, max_cells=8)
    out = tmp_path / "impact.md"
    args = ["--root", str(repo), "policy", "impact", str(repo / "policies"), "--base", "HEAD"]
    assert run_cli([*args, "--format", "markdown", "--out", str(out)]) == 0
    md = out.read_text()
    assert md.startswith("## Policy impact")
    assert "| Partition | Before | After | Rules | Notes |" in md
    assert "| `kfm/historic_sites/public ks-county-20045\\|2026-11-03` | allow | **deny** |" in md
    js = tmp_path / "impact.json"
    assert run_cli([*args, "--format", "json", "--out", str(js)]) == 0
    doc = json.loads(js.read_text())
    assert [(f["time_key"], f["before"], f["after"]) for f in doc["flips"]] == [
        ("2026-11-03", "allow", "deny"),
        ("2026-11-05", "quarantine", "deny"),
    ]
    assert doc["flips"][0]["rules_added"] == ["size.max_cells"]


def test_reconstructed_inputs_give_the_same_flips(repo: Path) -> None:
    for folder in _runs(repo):
        (folder / "policy_input.json").unlink(missing_ok=True)
    _limits(repo, max_cells=8)
    with policies_at_revision(repo / "policies", "HEAD") as base:
        report = replay_runs(repo, base, load_policy_set(repo / "policies"))
    assert report.reconstructed == 6
    assert {f.case.time_key for f in report.flips} == {"2026-11-03", "2026-11-05"}


def test_rejected_requests_and_duplicates_are_skipped(repo: Path) -> None:
    gate = build_gate(repo, as_of=AS_OF)
    gate.evaluate(b"{not json")
    gate.close()
    # the same partition recorded again under another policy digest: replayed once
    first = _runs(repo)[0]
    shutil.copytree(first, first.with_name(first.name + "-copy"))
    policies = load_policy_set(repo / "policies")
    report = replay_runs(repo, policies, policies)
    assert report.runs_seen == 8
    assert report.replayed == 6
    assert report.duplicates == 1
    assert [why for _, why in report.skipped] == ["request was rejected (no partition)"]
    assert report.flips == []


def test_a_recorded_input_without_a_usable_day_is_skipped(repo: Path) -> None:
    """A damaged policy_input.json skips its run with the reason; the others are replayed."""
    folder = _runs(repo)[0]
    recorded = json.loads((folder / "policy_input.json").read_text())
    recorded["obligations"]["today"] = "not a day"
    (folder / "policy_input.json").write_text(json.dumps(recorded))
    policies = load_policy_set(repo / "policies")
    report = replay_runs(repo, policies, policies)
    assert report.skipped == [
        (folder.name, "policy_input.json has no usable 'today' ('not a day')")
    ]
    assert report.replayed == report.runs_seen - 1


def test_case_from_recorded_policy_input(repo: Path) -> None:
    folder = _runs(repo)[0]
    case = load_case(folder)
    assert not isinstance(case, str)
    assert case.source == "recorded"
    recorded = json.loads((folder / "policy_input.json").read_text())
    assert case.base_input == recorded["obligations"]
    assert case.evidence == recorded["decision"]["evidence"]


def test_bad_base_revision_is_exit_2(repo: Path) -> None:
    args = ["--root", str(repo), "policy", "impact", str(repo / "policies")]
    assert run_cli([*args, "--base", "no-such-branch"]) == 2
    assert run_cli([*args, "--base=-p"]) == 2
    assert run_cli(args) == 2  # neither --base nor --base-dir


def test_base_dir_with_project_policies(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    args = ["--root", str(root), "policy", "impact", str(policies), "--base-dir", str(policies)]
    assert run_cli(args) == 0


def test_markdown_escapes_pipes() -> None:
    from kfm_gate.policy.impact import ImpactReport

    report = ImpactReport("a|b", "head", "sha256:" + "1" * 64, "sha256:" + "2" * 64)
    report.skipped.append(("run|x", "why|not"))
    md = ImpactMarkdownRenderer().render(report)
    assert "`a\\|b`" in md and "run\\|x" in md and "No recorded partition" in md


def _project_repo(tmp_path: Path) -> Path:
    """Runs recorded by the real gate under the project's own policies. Without pii, quality
    and secrets evidence they all deny, each for other rules: restricted TK (review), an
    embargo, no licence, a missing code_ref (waived for the demo legacy asset), unknown
    sensitivity."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "policies", root / "policies")
    gate = build_gate(root, as_of=AS_OF)
    variants: list[dict[str, Any]] = [
        {},
        {"flags": public_flags(tk_labels=["tkss"])},
        {"flags": public_flags(tk_labels=["tka"], embargo_until="2027-01-01")},
        {"flags": public_flags(licenses=[])},
        {"code_ref": None},
        {"code_ref": None, "asset_key": "kfm/legacy_survey/public"},
        {"flags": public_flags(sensitivity="unknown_review_required")},
    ]
    for day, extra in enumerate(variants, start=1):
        flags = extra.pop("flags", None)
        doc = make_request(root, flags=flags, **extra)
        doc["partition"]["time_key"] = f"2026-11-0{day}"
        run = gate.evaluate(dump(doc))
        assert run.decision.outcome != "error", run.decision.error
    gate.close()
    return root


def test_reused_recorded_decisions_equal_evaluated_ones(tmp_path: Path) -> None:
    """The soundness of reuse: for a run recorded under a policy set, the recorded decision is
    exactly what replaying its recorded input under that set gives (batched, one by one)."""
    from kfm_gate.policy.impact import ReplayEngine

    root = _project_repo(tmp_path)
    policies = load_policy_set(root / "policies")
    cases = [c for f in _runs(root) if not isinstance(c := load_case(f), str)]
    assert len(cases) == 7
    assert all(c.policy_digest == policies.digest and c.recorded for c in cases)
    answers = {(c.recorded.rules, c.recorded.obligations) for c in cases if c.recorded}
    assert len(answers) == 7, answers  # seven different answers
    assert any(c.recorded and c.recorded.waived for c in cases)
    engine = ReplayEngine(policies)
    try:
        batched = engine.replay_many(cases)
        alone = [engine.replay(c) for c in cases]
    finally:
        engine.close()
    assert [c.recorded for c in cases] == batched == alone


def test_reuse_gives_the_same_report_as_full_replay(repo: Path) -> None:
    _limits(repo, max_cells=8, notice_cells=9)
    with policies_at_revision(repo / "policies", "HEAD") as base:
        head = load_policy_set(repo / "policies")
        fast = replay_runs(repo, base, head)
        full = replay_runs(repo, base, head, reuse_recorded=False, workers=1)
    assert fast.reused > 0 and full.reused == 0  # the fast report did reuse answers
    fast.duration_s = full.duration_s = 0.0
    fast.reused = 0
    assert fast.to_json_dict() == full.to_json_dict()
    assert {f.case.time_key for f in fast.flips} == {"2026-11-03", "2026-11-05"}


def test_a_recorded_decision_that_disagrees_turns_reuse_off(repo: Path) -> None:
    """A decision.json that is not the policy's answer for its input is caught by the sample:
    every case is then evaluated, so the report is the evaluated one."""
    folder = next(f for f in _runs(repo) if "2026-11-04" in (f / "decision.json").read_text())
    doc = json.loads((folder / "decision.json").read_text())
    assert doc["outcome"] == "deny"
    doc["outcome"], doc["violations"] = "allow", []
    (folder / "decision.json").write_text(json.dumps(doc))
    _limits(repo, max_cells=12)  # evaluated, 11-04 goes deny -> allow
    with policies_at_revision(repo / "policies", "HEAD") as base:
        report = replay_runs(repo, base, load_policy_set(repo / "policies"))
    # had the tampered answer been reused for the base side, 11-04 would be allow -> allow
    assert [(f.case.time_key, f.before.outcome, f.after.outcome) for f in report.flips] == [
        ("2026-11-04", "deny", "allow")
    ]
    assert report.reused == 0  # the sample disagreed: every answer was evaluated
    case = load_case(folder)
    assert not isinstance(case, str) and case.recorded and case.recorded.outcome == "allow"


def test_pipelined_replay_equals_evaluating_each_case_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks and batches on two threads, runs read while others are evaluated, both
    sides evaluated (no reuse): every case gets exactly what evaluating it alone gives."""
    from kfm_gate.policy import impact
    from kfm_gate.policy.impact import ReplayEngine

    root = _project_repo(tmp_path)
    base = load_policy_set(root / "policies")
    gate_json = root / "policies/data/gate.json"
    doc = json.loads(gate_json.read_text())
    doc["blocking_severities"] = ["critical"]  # the head lets high-severity violations pass
    gate_json.write_text(json.dumps(doc))
    head = load_policy_set(root / "policies")
    cases = [c for f in _runs(root) if not isinstance(c := load_case(f), str)]
    alone: dict[str, tuple[Any, Any]] = {}
    engines = ReplayEngine(base), ReplayEngine(head)
    try:
        for case in cases:
            alone[case.run] = (engines[0].replay(case), engines[1].replay(case))
    finally:
        for engine in engines:
            engine.close()
    assert len({after.rules for _, after in alone.values()}) > 1
    assert any(before != after for before, after in alone.values())

    monkeypatch.setattr(impact, "CHUNK_SIZE", 2)
    monkeypatch.setattr(impact, "BATCH_SIZE", 1)
    for reuse in (False, True):
        report = replay_runs(root, base, head, reuse_recorded=reuse, workers=2)
        assert report.replayed == len(cases) == 7
        flips = {f.case.run: (f.before, f.after) for f in report.flips}
        assert flips == {
            run: pair for run, pair in alone.items() if pair[0].outcome != pair[1].outcome
        }
        same = sum(
            1
            for before, after in alone.values()
            if before.outcome == after.outcome
            and (before.rules != after.rules or before.codes != after.codes)
        )
        assert report.changed_same_outcome == same


def test_head_policies_that_do_not_compile_fail_the_replay(repo: Path) -> None:
    from kfm_gate.errors import PolicyCompileError

    (repo / "policies/kfm/gate/broken.rego").write_text(
        "package kfm.gate\n\nbad if {\n  x == 1\n}\n"
    )
    with (
        policies_at_revision(repo / "policies", "HEAD") as base,
        pytest.raises(PolicyCompileError, match=r"broken\.rego"),
    ):
        replay_runs(repo, base, load_policy_set(repo / "policies"))
