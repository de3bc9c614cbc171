from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from kfm_gate import EvidenceSection, GateContext, build_gate
from kfm_gate.errors import PolicyEngineUnavailableError
from kfm_gate.gate import Gate
from kfm_gate.runtime import build_default_gate
from tests.helpers import PART, dump, make_request, public_flags, scratch_repo

AS_OF = dt.date(2026, 11, 25)
AOIS = frozenset({"ks-county-20045", "ks-county-20001"})


def _gate(root: Path, **kw: Any) -> Gate:
    """The project's default gate (every collector); ``collectors=`` swaps them for a test."""
    kw.setdefault("as_of", AS_OF)
    if "collectors" in kw:
        kw.setdefault("aoi_ids", AOIS)
        return build_gate(root, **kw)
    return build_default_gate(root, **kw)


def _files_outside_runs(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and not p.relative_to(root).as_posix().startswith(("mcp/", "policies/", "data/aoi/", PART))
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path)


def test_allow_promotes_public_view_and_records(root: Path) -> None:
    run = _gate(root).evaluate(dump(make_request(root)))
    assert run.decision.outcome == "allow", run.decision.violations
    assert run.decision.kfm_outcome == "ANSWER"
    for name in ("request.json", "config.json", "evidence.json", "decision.json", "run.log"):
        assert (run.run_dir / name).is_file(), name
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["policy_digest"] == run.decision.policy_digest
    assert config["environment"]["packages"]["opa-golib-python-bindings"] == "0.4.4"
    assert config["inputs"][0]["sha256"].startswith("sha256:")
    published = list((root / PART / "public").rglob("sites.geojson"))
    assert len(published) == 1
    assert not (root / PART / ".staging").exists() or not any((root / PART / ".staging").iterdir())


def test_same_request_twice_same_ids_and_bytes(root: Path) -> None:
    doc = make_request(root)
    first = _gate(root).evaluate(dump(doc))
    decision_bytes = (first.run_dir / "decision.json").read_bytes()
    again = _gate(root).evaluate(dump(doc))
    assert again.reused and again.decision == first.decision
    forced = _gate(root, force=True).evaluate(json.dumps(doc, indent=4, sort_keys=True))
    assert not forced.reused
    assert forced.decision.run_id == first.decision.run_id
    assert forced.decision.decision_id == first.decision.decision_id
    assert (forced.run_dir / "decision.json").read_bytes() == decision_bytes


def test_missing_flags_deny(root: Path) -> None:
    doc = make_request(root)
    doc["inputs"][0]["flags"] = None
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "deny"
    assert "SENSITIVITY_UNRESOLVED" in run.decision.reason_codes
    assert not (root / PART / "public").exists()


def test_secret_sacred_label_quarantines(root: Path) -> None:
    doc = make_request(root, flags=public_flags(tk_labels=["tkss"], indigenous_rights_flag=True))
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "quarantine"
    assert run.decision.kfm_outcome == "ABSTAIN"
    assert run.decision.lifecycle_stage == "QUARANTINE"
    assert "REQUIRE_STEWARD_REVIEW" in run.decision.reason_codes
    assert not (root / PART / "public").exists()


def test_checksum_mismatch_denies(root: Path) -> None:
    doc = make_request(root)
    path = root / doc["outputs"][0]["path"]
    path.write_bytes(path.read_bytes().replace(b"Old Stone Mill", b"Old Stone Mall"))
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "deny"
    assert "CHECKSUM_MISMATCH" in run.decision.reason_codes


class _Boom:
    name = "boom"

    def collect(self, ctx: GateContext) -> EvidenceSection:
        raise RuntimeError("disk on fire")


class _BrokenEngine:
    name = "broken"
    policy_digest = "sha256:" + "1" * 64
    revision = "1" * 64

    def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
        raise PolicyEngineUnavailableError("OPA at http://127.0.0.1:1 refused the connection")

    def close(self) -> None:
        pass


def _assert_error_recorded(run: Any, fragment: str) -> None:
    assert run.decision.outcome == "error"
    assert run.decision.kfm_outcome == "ERROR"
    assert fragment in (run.decision.error or "")
    for name in ("request.json", "config.json", "evidence.json", "decision.json", "run.log"):
        assert (run.run_dir / name).is_file(), name


def test_collector_exception_gives_error(root: Path) -> None:
    from kfm_gate.evidence.integrity import ChecksumCollector

    run = _gate(root, collectors=[ChecksumCollector(), _Boom()]).evaluate(dump(make_request(root)))
    _assert_error_recorded(run, "disk on fire")
    assert run.decision.reason_codes == ("EVIDENCE_UNRESOLVED",)
    assert not (root / PART / "public").exists()


def test_engine_exception_gives_error(root: Path) -> None:
    run = _gate(root, engine=_BrokenEngine()).evaluate(dump(make_request(root)))
    _assert_error_recorded(run, "refused the connection")
    assert run.decision.reason_codes == ("POLICY_ENGINE_UNAVAILABLE",)


def test_policy_that_does_not_compile_gives_error(root: Path) -> None:
    (root / "policies/kfm/gate/broken.rego").write_text(
        "package kfm.gate\n\ndeny[msg] {\n  msg := 1\n}\n"
    )
    run = _gate(root).evaluate(dump(make_request(root)))
    _assert_error_recorded(run, "broken.rego:3")
    assert run.decision.violations[0].details["location"] == "kfm/gate/broken.rego:3"


def test_collector_timeout_gives_error(root: Path) -> None:
    import time

    class Slow:
        name = "slow"

        def collect(self, ctx: GateContext) -> EvidenceSection:
            time.sleep(1.0)
            return EvidenceSection(collector="Slow")

    gate = _gate(root, collectors=[Slow()])
    gate.settings = type(gate.settings)(**{**gate.settings.__dict__, "collector_timeout_s": 0.1})
    run = gate.evaluate(dump(make_request(root)))
    _assert_error_recorded(run, "did not finish within 0.1 s")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["outputs"][0].update(path="data/processed/../../../etc/passwd"), "'..'"),
        (lambda d: d["outputs"][0].update(path="/etc/passwd"), "absolute"),
        (lambda d: d["partition"].update(time_key="2026-02-30"), "not a real calendar day"),
        (lambda d: d["partition"].update(time_key="last tuesday"), "not a date"),
        (lambda d: d["partition"].update(aoi_key="ks-county-99999"), "not in the AOI registry"),
        (lambda d: d.update(asset_key="x" * (50 * 1024 * 1024)), "the limit request_bytes is"),
        (lambda d: d.pop("inputs"), "inputs"),
    ],
)
def test_bad_input_is_one_clear_error_and_nothing_outside_runs(
    root: Path, mutate: Any, fragment: str
) -> None:
    doc = make_request(root)
    mutate(doc)
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "error"
    assert fragment in (run.decision.error or ""), run.decision.error
    assert "\n" not in (run.decision.error or "")
    assert len(run.decision.error or "") < 600
    assert _files_outside_runs(root) == []
    assert (run.run_dir / "decision.json").is_file()
    assert "x" * 1000 not in (run.run_dir / "request.json").read_text()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(asset_key="x" * (50 * 1024 * 1024)), "limit string_chars is 65536"),
        (
            lambda d: d["params"].update(notes="x" * (50 * 1024 * 1024)),
            "limit string_chars is 65536",
        ),
    ],
)
def test_huge_string_field_in_a_parsed_request(root: Path, mutate: Any, fragment: str) -> None:
    doc = make_request(root)
    mutate(doc)
    run = _gate(root).evaluate(doc)
    assert run.decision.outcome == "error"
    assert fragment in (run.decision.error or "")
    assert len(run.decision.error or "") < 600
    assert _files_outside_runs(root) == []


def test_request_that_is_not_json(root: Path) -> None:
    run = _gate(root).evaluate(b"\x89PNG\r\n\x1a\n not json")
    assert run.decision.outcome == "error"
    assert "not JSON" in (run.decision.error or "")
    assert (run.run_dir / "decision.json").is_file()


def test_output_missing_on_disk_denies(root: Path) -> None:
    doc = make_request(root, write=False)
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "deny"
    assert any(v.details.get("problem") == "file does not exist" for v in run.decision.violations)


def test_output_outside_processed_denies(root: Path) -> None:
    doc = make_request(root)
    other = root / "data/processed/survey/historic_sites/ks-county-20001/2026-11-01/sites.geojson"
    other.parent.mkdir(parents=True)
    other.write_bytes((root / doc["outputs"][0]["path"]).read_bytes())
    doc["outputs"][0]["path"] = other.relative_to(root).as_posix()
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "deny"
    assert "OUTPUT_OUTSIDE_PROCESSED" in run.decision.reason_codes


def test_waiver_sets_aside_a_rule_and_is_cited(root: Path) -> None:
    (root / "policies/waivers/w.yml").write_text(
        "id: w-code-ref\nscope:\n  asset: kfm/historic_sites/public\n  rules: [integrity.code_ref]\n"
        "reason: legacy data\napprover: fair-care-council\ncreated: 2026-11-01\nexpires: 2026-12-31\n"
    )
    doc = make_request(root, code_ref=None)
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.outcome == "allow"
    assert [w.waiver_id for w in run.decision.waived] == ["w-code-ref"]
    expired = _gate(root, as_of=dt.date(2027, 1, 5), force=True).evaluate(dump(doc))
    assert expired.decision.outcome == "deny"
    assert any(w.code == "WAIVER_EXPIRED" for w in expired.decision.warnings)


def test_invalid_waiver_file_fails_closed(root: Path) -> None:
    (root / "policies/waivers/bad.yml").write_text("id: Bad Id\nscope: {asset: '*'}\n")
    run = _gate(root).evaluate(dump(make_request(root)))
    assert run.decision.outcome == "error"
    assert "waiver file" in (run.decision.error or "")


def test_missing_policy_folder_gives_error_with_record(root: Path) -> None:
    import shutil

    shutil.rmtree(root / "policies")
    run = _gate(root, collectors=[]).evaluate(dump(make_request(root)))
    _assert_error_recorded(run, "policy folder")
    assert run.decision.reason_codes == ("GATE_CONFIG_INVALID",)


def test_gates_share_the_compiled_engine_of_their_policies(root: Path, tmp_path: Path) -> None:
    """Gates with the same policy digest reuse one compiled engine; closing a gate leaves it
    open for the others; edited policies get their own engine."""
    first = _gate(root, collectors=())
    second = _gate(root, collectors=())
    engine = first.engine()
    assert second.engine() is engine
    first.close()
    run = second.evaluate(dump(make_request(root)))
    assert run.decision.outcome in ("allow", "deny", "quarantine"), run.decision.error
    other = tmp_path / "other"
    other.mkdir()
    edited = scratch_repo(other)
    gate_json = edited / "policies/data/gate.json"
    doc = json.loads(gate_json.read_text(encoding="utf-8"))
    doc["blocking_severities"] = sorted({*doc["blocking_severities"], "info"})
    gate_json.write_text(json.dumps(doc), encoding="utf-8")
    third = _gate(edited, collectors=())
    assert third.engine() is not engine
    assert third.engine().policy_digest != engine.policy_digest


def test_a_given_engine_is_closed_with_its_gate(root: Path) -> None:
    from kfm_gate.policy import load_policy_set
    from kfm_gate.policy.engine import EmbeddedOpaEngine

    engine = EmbeddedOpaEngine(load_policy_set(root / "policies"))
    gate = _gate(root, collectors=(), engine=engine)
    assert gate.engine() is engine
    gate.close()
    with pytest.raises(Exception, match="closed"):
        engine.evaluate("kfm.gate.decision", {})
