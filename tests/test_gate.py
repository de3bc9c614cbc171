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


def test_allow_is_recorded_with_its_public_view_and_published_by_the_publisher(
    root: Path,
) -> None:
    from kfm_gate.publication import Publisher

    gate = _gate(root)
    run = gate.evaluate(dump(make_request(root)))
    assert run.decision.outcome == "allow", run.decision.violations
    assert run.decision.kfm_outcome == "ANSWER"
    for name in ("request.json", "config.json", "evidence.json", "decision.json", "run.log"):
        assert (run.run_dir / name).is_file(), name
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["policy_digest"] == run.decision.policy_digest
    assert config["environment"]["packages"]["opa-golib-python-bindings"] == "0.4.4"
    assert config["inputs"][0]["sha256"].startswith("sha256:")
    # the gate records the masked public view with its checksums; it publishes nothing
    view = json.loads((run.run_dir / "public.json").read_text())
    assert [f["name"] for f in view["files"]] == ["sites.geojson"]
    assert (run.run_dir / "public" / "sites.geojson").is_file()
    assert not (root / PART / "public").exists()
    assert not (root / "data" / "stac").exists() and not (root / "data" / "graph").exists()
    assert not (root / "mcp" / "work").exists() or not any((root / "mcp" / "work").iterdir())
    done = Publisher(gate.layout).publish(run.request, run.decision.run_id)  # type: ignore[arg-type]
    assert done.published and done.ledger is not None
    published = list((root / PART / "public").rglob("sites.geojson"))
    assert len(published) == 1
    assert published[0].read_bytes() == (run.run_dir / "public" / "sites.geojson").read_bytes()


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


# -- issue 12: every write stays inside the roots (5) -----------------------------------------


@pytest.mark.parametrize(
    ("link", "kind"),
    [
        ("mcp/ledger.jsonl", "file"),
        ("mcp/ledger.head.json", "file"),
        ("mcp/ledger.jsonl.lock", "file"),
        ("mcp/.publish.lock", "file"),
        ("mcp/runs", "dir"),
        ("mcp/.staging", "dir"),
        ("mcp/work", "dir"),
    ],
)
def test_a_link_out_of_the_roots_is_refused_and_nothing_is_written(
    root: Path, tmp_path: Path, link: str, kind: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"
    if kind == "file":
        target.write_bytes(b"")
    else:
        target.mkdir()
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(target)
    run = _gate(root).evaluate(dump(make_request(root)))
    assert run.decision.outcome == "error" and not run.recorded
    assert run.decision.reason_codes == ("PATH_NOT_ALLOWED",)
    assert "outside" in (run.decision.error or "")
    if kind == "file":
        assert target.read_bytes() == b""  # not one byte appended through the link
    else:
        assert not any(target.iterdir())
    assert not (root / "mcp" / "runs").is_dir() or link == "mcp/runs"
    assert not (root / "data" / "stac").exists()


def test_a_report_out_through_a_link_is_refused(root: Path, tmp_path: Path) -> None:
    from kfm_gate.cli import main

    outside = tmp_path / "elsewhere.sarif"
    outside.write_text("keep")
    (root / "report.sarif").symlink_to(outside)
    code = main(
        ["--root", str(root), "ci", "--format", "sarif", "--out", str(root / "report.sarif")]
    )
    assert code == 2 and outside.read_text() == "keep"
    missing = tmp_path / "missing" / "x.sarif"
    assert main(["--root", str(root), "ci", "--format", "sarif", "--out", str(missing)]) == 2
    assert not missing.parent.exists()


def test_a_release_behind_a_link_is_not_published(root: Path, tmp_path: Path) -> None:
    from kfm_gate.errors import PathError
    from kfm_gate.publication import Publisher

    gate = _gate(root)
    run = gate.evaluate(dump(make_request(root)))
    assert run.decision.outcome == "allow" and run.request is not None
    outside = tmp_path / "release.json"
    outside.write_text("{}")
    (root / PART / "release.json").symlink_to(outside)
    with pytest.raises(PathError):
        Publisher(gate.layout).publish(run.request, run.decision.run_id)
    assert outside.read_text() == "{}"
    assert not (root / PART / "public").exists() and not (root / "data" / "stac").exists()


# -- issue 12: an error is not a decision to keep (6) ----------------------------------------


def test_an_error_never_replaces_a_recorded_allow_and_is_never_reused(root: Path) -> None:
    from kfm_gate.journal import journal_pending
    from kfm_gate.provenance import Ledger
    from kfm_gate.publication import Publisher

    doc = make_request(root)
    gate = _gate(root)
    allow = gate.evaluate(dump(doc))
    assert allow.decision.outcome == "allow" and allow.request is not None
    Publisher(gate.layout).publish(allow.request, allow.decision.run_id)
    decision_bytes = (allow.run_dir / "decision.json").read_bytes()

    broken = _gate(root, engine=_BrokenEngine(), force=True).evaluate(dump(doc))
    assert broken.decision.outcome == "error" and broken.recorded
    assert broken.decision.run_id == allow.decision.run_id
    assert broken.run_dir.parent == allow.run_dir / "attempts"
    for name in ("decision.json", "prov.ttl", "prov.jsonld", "ledger-entry.json"):
        assert (broken.run_dir / name).is_file(), name
    assert (broken.run_dir / "openlineage" / "02-FAIL.json").is_file()
    assert (allow.run_dir / "decision.json").read_bytes() == decision_bytes

    again = _gate(root).evaluate(dump(doc))
    assert again.reused and again.decision == allow.decision
    assert list((root / PART / "public").rglob("sites.geojson"))  # the publication stayed
    ledger = Ledger(root / "mcp" / "ledger.jsonl")
    assert ledger.verify().ok
    assert [(e.get("kind", "decision"), e["outcome"]) for e in ledger.entries()] == [
        ("decision", "allow"),
        ("publish", "allow"),
        ("decision", "error"),
    ]
    assert not journal_pending(root)


def test_a_recorded_error_is_decided_again(root: Path) -> None:
    doc = make_request(root)
    error = _gate(root, engine=_BrokenEngine()).evaluate(dump(doc))
    assert error.decision.outcome == "error"
    again = _gate(root).evaluate(dump(doc))
    assert not again.reused and again.decision.outcome == "allow"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 3], id="truncated"),
        pytest.param(lambda b: b.replace(b'"deny"', b'"allow"', 1), id="edited-outcome"),
        pytest.param(lambda b: b.replace(b"SENSITIVITY", b"SENSITIVELY"), id="edited-reason"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_a_damaged_decision_is_decided_again_never_a_traceback(root: Path, damage: Any) -> None:
    doc = make_request(root, flags=None)
    doc["inputs"][0]["flags"] = None  # denied: flags missing
    first = _gate(root).evaluate(dump(doc))
    assert first.decision.outcome == "deny"
    path = first.run_dir / "decision.json"
    original = path.read_bytes()
    path.write_bytes(damage(original))
    again = _gate(root).evaluate(dump(doc))
    assert not again.reused and again.decision.outcome == "deny"
    assert again.decision == first.decision
    assert path.read_bytes() == original


# -- issue 12: a decision is reused only for the same request (10) ---------------------------


def test_a_changed_candidate_is_gated_again(root: Path) -> None:
    from kfm_gate.publication import Publisher

    doc = make_request(root)
    gate = _gate(root)
    allow = gate.evaluate(dump(doc))
    assert allow.decision.outcome == "allow" and allow.request is not None
    Publisher(gate.layout).publish(allow.request, allow.decision.run_id)
    # the candidate changes after it was allowed: an e-mail address is added
    sites = json.loads((root / doc["outputs"][0]["path"]).read_bytes())
    sites["features"][0]["properties"]["notes"] = "write to hollis.quill@example.org"
    doc = make_request(root, content=json.dumps(sites).encode())
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.run_id == allow.decision.run_id  # the run id leaves the outputs out
    assert not run.reused
    assert run.decision.request_digest != allow.decision.request_digest
    assert run.decision.decision_id != allow.decision.decision_id
    assert run.decision.evidence_digest != allow.decision.evidence_digest  # new bytes examined
    # the allow it replaced is kept as an attempt of the run
    kept = gate.store.attempts(run.decision.run_id)
    assert [r.decision.decision_id for r in kept] == [allow.decision.decision_id]


def test_a_published_partition_denied_later_is_withdrawn(root: Path) -> None:
    from kfm_gate.publication import Publisher

    doc = make_request(root)
    gate = _gate(root)
    allow = gate.evaluate(dump(doc))
    assert allow.decision.outcome == "allow" and allow.request is not None
    publisher = Publisher(gate.layout)
    publisher.publish(allow.request, allow.decision.run_id)
    doc["inputs"][0]["flags"] = None  # a corrected manifest: the flags are now unresolved
    run = _gate(root).evaluate(dump(doc))
    assert run.decision.run_id == allow.decision.run_id and not run.reused
    assert run.decision.outcome == "deny"
    done = publisher.settle(run.request, run.decision, recorded=run.recorded)
    assert done is not None and done.action == "withdraw"
    assert done.state.by == run.decision.decision_id
    assert not list((root / PART / "public").rglob("sites.geojson"))


def test_the_run_log_is_given_to_collectors_as_a_parameter(root: Path) -> None:
    from kfm_gate.context import StartsEarly
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

    class Talking:
        name = "talking"

        def collect(self, ctx: GateContext) -> EvidenceSection:
            ctx.log("talking: looked at every file")
            assert "_log" not in ctx.settings  # the log is not hidden in the settings
            return EvidenceSection(collector="Talking")

    assert not isinstance(Talking(), StartsEarly)
    collectors = [ChecksumCollector(), PlacementCollector(), Talking()]
    run = _gate(root, collectors=collectors).evaluate(dump(make_request(root)))
    assert "talking: looked at every file" in (run.run_dir / "run.log").read_text()


def test_a_damaged_record_beside_a_good_decision_is_decided_again(root: Path) -> None:
    doc = make_request(root)
    first = _gate(root).evaluate(dump(doc))
    (first.run_dir / "evidence.json").write_text("{")
    again = _gate(root).evaluate(dump(doc))
    assert not again.reused and again.decision == first.decision
    assert json.loads((again.run_dir / "evidence.json").read_text())["sections"]
