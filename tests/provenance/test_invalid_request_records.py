"""A request that cannot be parsed leaves PROV, OpenLineage and a ledger entry, without its content.

Issue #5: every outcome, ``error`` included, leaves records that validate. A request rejected
before evaluation (not JSON, missing fields, a bad partition key) is identified by the sha256 of
its bytes only: no value it holds may reach the run folder, the ledger or anywhere else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import PROV, RDF, RDFS

from kfm_gate.cli import main
from kfm_gate.errors import InputError, RecordError
from kfm_gate.ids import invalid_request_id, run_folder_name
from kfm_gate.layout import Layout
from kfm_gate.provenance import Ledger
from kfm_gate.provenance.lineage import INVALID_REQUEST_JOB, build_run_events, run_uuid
from kfm_gate.provenance.prov import KFM_NS, build_prov_graph, prov_documents
from kfm_gate.provenance.record import RunRecord
from kfm_gate.provenance.shapes import validate_prov
from kfm_gate.runs import RunStore
from kfm_gate.runtime import build_default_gate
from kfm_gate.samples import sample_invalid_draft, sample_invalid_record, sample_record
from tests.helpers import dump, make_request, scratch_repo
from tests.provenance.test_openlineage import _validate_event

AS_OF = "2026-11-25"
EMAIL = "alice.smith@example.org"
TOKEN = "kfmtok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRETS = (EMAIL, TOKEN)
RECORDS = (
    "prov.ttl",
    "prov.jsonld",
    "openlineage/01-START.json",
    "openlineage/02-FAIL.json",
    "ledger-entry.json",
)


def kfm(local: str) -> URIRef:
    return URIRef(KFM_NS + local)


def _not_json(root: Path) -> bytes:
    return f"contact={EMAIL}&token={TOKEN}".encode()


def _missing_fields(root: Path) -> bytes:
    return dump(
        {"asset_key": "kfm/historic_sites/public", "params": {"contact": EMAIL, "api": TOKEN}}
    )


def _bad_partition_key(root: Path) -> bytes:
    doc = make_request(root)
    doc["partition"]["aoi_key"] = "Not A Registry Key"
    doc["params"].update(contact=EMAIL, api_token=TOKEN)
    return dump(doc)


CASES = {
    "not-json": (_not_json, "not JSON", "POLICY_INPUT_INCOMPLETE"),
    "missing-fields": (_missing_fields, "is required", "POLICY_INPUT_INCOMPLETE"),
    "bad-partition-key": (_bad_partition_key, "aoi_key", "PARTITION_KEY_INVALID"),
}


def _run_dir(root: Path, raw: bytes) -> Path:
    """The folder the gate gives a rejected request, an error: the one attempt of the run
    whose id derives from the digest of its bytes."""
    rid = invalid_request_id("sha256:" + hashlib.sha256(raw).hexdigest())
    [attempt] = sorted((root / "mcp" / "runs" / run_folder_name(rid) / "attempts").iterdir())
    return attempt


def _files(base: Path) -> dict[str, bytes]:
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path)


# rdflib's JSON-LD parser still builds a ConjunctiveGraph internally (upstream deprecation)
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.parametrize("case", sorted(CASES))
def test_rejected_request_leaves_valid_records_without_its_content(
    root: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build, fragment, code = CASES[case]
    raw = build(root)
    assert all(s.encode() in raw for s in SECRETS)
    request_file = tmp_path / "request.json"  # outside the repository: only the gate writes there
    request_file.write_bytes(raw)

    exit_code = main(["--root", str(root), "evaluate", str(request_file), "--as-of", AS_OF])

    assert exit_code == 2  # recorded as an error; the request itself could not be gated
    assert capsys.readouterr().out.startswith("ERROR")
    run_dir = _run_dir(root, raw)
    decision = json.loads((run_dir / "decision.json").read_text())
    assert decision["outcome"] == "error"
    assert fragment in decision["error"]
    assert code in decision["reason_codes"]
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert decision["request_digest"] == digest
    for name in RECORDS:
        assert (run_dir / name).is_file(), name

    # PROV: SHACL-valid with PROV-O, the gate used the submitted request named by its digest
    g = Graph().parse(run_dir / "prov.ttl", format="turtle")
    report = validate_prov(g)
    assert report.conforms, report.text
    requests = list(g.subjects(RDF.type, kfm("SubmittedRequest")))
    assert len(requests) == 1
    assert set(g.objects(requests[0], kfm("checksum"))) == {Literal(digest)}
    assert (None, PROV.used, requests[0]) in g
    assert not list(g.subjects(RDF.type, kfm("Materialization")))
    [dec] = g.subjects(RDF.type, kfm("Decision"))
    assert g.value(dec, kfm("outcome")) == Literal("error")
    assert g.value(dec, kfm("assetKey")) == Literal("unknown")
    assert isomorphic(g, Graph().parse(run_dir / "prov.jsonld", format="json-ld"))

    # OpenLineage: START then FAIL, valid against the spec and facet schemas
    events = [
        json.loads((run_dir / "openlineage" / n).read_text())
        for n in ("01-START.json", "02-FAIL.json")
    ]
    for event in events:
        assert _validate_event(event) >= 2
        assert event["job"]["name"] == INVALID_REQUEST_JOB
        assert event["outputs"] == []
    facets = events[1]["run"]["facets"]
    assert facets["kfm_decision"]["outcome"] == "error"
    assert facets["kfm_decision"]["request_digest"] == digest
    assert fragment in facets["errorMessage"]["message"]

    # ledger: one entry for this decision, the chain verifies, the receipt names it
    ledger = Ledger(root / "mcp" / "ledger.jsonl")
    assert ledger.verify().ok
    [entry] = ledger.entries()
    assert entry["decision_id"] == decision["decision_id"]
    assert entry["outcome"] == "error" and entry["request_digest"] == digest
    receipt = json.loads((run_dir / "ledger-entry.json").read_text())
    assert receipt["entry"]["decision_id"] == decision["decision_id"]

    # nothing of the request's content anywhere in the repository (its digest is fine)
    everything = _files(root)
    assert any(digest.encode() in data for data in everything.values())
    for rel, data in everything.items():
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} leaked into {rel}"
    assert not (root / "data" / "stac").exists()


def test_same_invalid_bytes_twice_give_identical_records_and_one_ledger_entry(root: Path) -> None:
    raw = _not_json(root)
    gate = build_default_gate(root, as_of=dt.date.fromisoformat(AS_OF))
    first = gate.evaluate(raw)
    before = _files(first.run_dir)
    second = gate.evaluate(raw)
    after = _files(second.run_dir)

    assert first.decision.run_id == second.decision.run_id
    assert first.decision.decision_id == second.decision.decision_id
    assert first.run_dir == second.run_dir
    assert before == after  # byte for byte, ledger-entry.json included
    assert first.ledger is not None and first.ledger["appended"] is True
    assert second.ledger is not None and second.ledger["appended"] is False
    ledger = Ledger(root / "mcp" / "ledger.jsonl")
    assert ledger.verify().ok
    assert len(ledger.entries()) == 1

    # on a later day the same bytes get a new error: another attempt of the run, one more entry
    later = build_default_gate(root, as_of=dt.date(2026, 11, 26)).evaluate(raw)
    assert later.decision.run_id == first.decision.run_id
    assert later.decision.decision_id != first.decision.decision_id
    assert later.run_dir != first.run_dir and later.run_dir.parent == first.run_dir.parent
    assert _files(first.run_dir) == before  # the earlier attempt is kept as it was
    assert later.ledger is not None and later.ledger["appended"] is True
    assert ledger.verify().ok
    assert [e["decision_id"] for e in ledger.entries()] == [
        first.decision.decision_id,
        later.decision.decision_id,
    ]


def test_prov_of_a_record_without_request() -> None:
    raw = f'{{"asset_key": "{EMAIL}", "token": "{TOKEN}"'.encode()
    record = sample_invalid_record(raw)
    g = build_prov_graph(record)
    report = validate_prov(g)
    assert report.conforms, report.text

    for cls in ("Materialization", "SourceEntity", "CandidateOutput", "PublicEntity"):
        assert not list(g.subjects(RDF.type, kfm(cls))), cls
    [gate] = g.subjects(RDF.type, kfm("GateDecision"))
    [submitted] = g.objects(gate, PROV.used)
    assert (submitted, RDF.type, kfm("SubmittedRequest")) in g
    assert (submitted, RDF.type, PROV.Entity) in g
    assert g.value(submitted, kfm("checksum")) == Literal(record.decision.request_digest)
    assert "invalid request" in str(g.value(gate, RDFS.label))
    [dec] = g.subjects(RDF.type, kfm("Decision"))
    assert g.value(dec, kfm("assetKey")) == Literal("unknown")
    assert g.value(dec, kfm("partitionKey")) is None
    assert g.value(dec, kfm("error")) is not None
    assert str(g.value(dec, kfm("policyDigest"))) == "sha256:" + "0" * 64

    docs = prov_documents(record)
    assert docs == prov_documents(sample_invalid_record(raw))  # deterministic bytes
    for data in docs.values():
        assert EMAIL.encode() not in data and TOKEN.encode() not in data


def test_shapes_require_the_digest_and_nothing_else_on_a_submitted_request() -> None:
    record = sample_invalid_record()
    g = build_prov_graph(record)
    [submitted] = g.subjects(RDF.type, kfm("SubmittedRequest"))
    no_digest = Graph()
    for triple in g:
        no_digest.add(triple)
    no_digest.remove((submitted, kfm("checksum"), None))
    report = validate_prov(no_digest)
    assert not report.conforms
    assert "sha256 of its bytes" in report.text

    g.add((submitted, kfm("params_json"), Literal('{"contact": "x"}')))
    report = validate_prov(g)
    assert not report.conforms  # closed: the request's content has no place here


def test_events_of_a_record_without_request() -> None:
    record = sample_invalid_record()
    events = build_run_events(record)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        assert _validate_event(event) >= 2
        assert event["job"] == events[0]["job"]
        assert event["job"]["name"] == INVALID_REQUEST_JOB
        assert event["run"]["runId"] == run_uuid(record.run_id, record.decision.request_digest)
        [dataset] = event["inputs"]
        hex24 = record.decision.request_digest.removeprefix("sha256:")[:24]
        assert dataset["name"] == f"invalid-request/{hex24}"
        assert event["outputs"] == []
    nominal = events[0]["run"]["facets"]["nominalTime"]
    assert nominal["nominalStartTime"] == "2026-11-25T00:00:00Z"
    assert nominal["nominalEndTime"] == "2026-11-26T00:00:00Z"
    end = events[1]["run"]["facets"]
    assert end["kfm_decision"]["asset_key"] == "unknown"
    assert end["kfm_decision"]["partition_key"] == ""
    assert end["errorMessage"]["message"] == record.decision.error
    assert build_run_events(sample_invalid_record()) == events


def test_record_without_request_has_no_partition_and_is_never_published(tmp_path: Path) -> None:
    record = sample_invalid_record()
    assert record.partition_key == ""
    with pytest.raises(RecordError, match="cannot be published"):
        _ = record.collection_id
    with pytest.raises(RecordError, match="cannot be published"):
        _ = record.item_id

    store = RunStore(Layout(tmp_path))
    recorded = store.record(sample_invalid_draft())
    run_dir = recorded.run.folder
    assert run_dir.parent.name == "attempts"  # an error is never a run's decision
    assert sorted(_files(run_dir)) == sorted(
        [*RECORDS, "request.json", "config.json", "evidence.json", "decision.json", "run.log"]
    )
    ledger = Ledger(tmp_path / "mcp" / "ledger.jsonl")
    assert ledger.verify().ok
    [entry] = ledger.entries()
    assert entry["partition"] == "|" and entry["asset_key"] == "unknown"
    assert store.current(record.run_id) is None  # nothing the publisher could promote
    assert not (tmp_path / "data").exists()


def test_only_an_error_may_lack_its_request() -> None:
    base = sample_record("deny")
    kwargs: dict[str, Any] = {
        "decision": base.decision,
        "evidence": base.evidence,
        "started_at": base.started_at,
        "ended_at": base.ended_at,
        "version": base.version,
    }
    with pytest.raises(InputError, match="must have outcome error"):
        RunRecord(request=None, **kwargs)
