"""OpenLineage events: valid against the spec and facet schemas, deterministic, HTTP transport."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from kfm_gate.provenance.lineage import (
    HttpLineageSink,
    build_lineage_sinks,
    build_run_events,
    run_uuid,
)
from kfm_gate.samples import sample_record

SPECS = Path(__file__).resolve().parents[2] / "kfm_gate" / "specs"
SHARED_OL = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openlineage"
OL_DIR = SHARED_OL if SHARED_OL.exists() else SPECS / "openlineage"


def _registry() -> tuple[Registry, dict[str, Any], dict[str, Any]]:
    core = json.loads((OL_DIR / "OpenLineage.json").read_text())
    resources = [(core["$id"], Resource.from_contents(core))]
    facets: dict[str, Any] = {}
    for path in sorted((OL_DIR / "facets").glob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
        facets[doc["$id"]] = doc
    ours = json.loads((SPECS / "kfm" / "KfmDecisionRunFacet.json").read_text())
    resources.append((ours["$id"], Resource.from_contents(ours)))
    facets[ours["$id"]] = ours
    return Registry().with_resources(resources), core, facets


REGISTRY, CORE, FACETS = _registry()


def _validate_event(event: dict[str, Any]) -> int:
    """Validate the event and every facet against its own schema; returns facets checked."""
    jsonschema.Draft202012Validator(CORE, registry=REGISTRY).validate(event)
    checked = 0
    groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        groups += [ds.get("facets", {}), ds.get("inputFacets", {}), ds.get("outputFacets", {})]
    for group in groups:
        for name, facet in group.items():
            url, _, pointer = facet["_schemaURL"].partition("#")
            assert url in FACETS, f"no local schema for facet {name}: {url}"
            schema = {"$ref": f"{url}#{pointer}"}
            jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(facet)
            checked += 1
    return checked


@pytest.mark.parametrize("outcome", ["allow", "deny", "quarantine", "error"])
def test_events_validate_against_openlineage_spec(outcome: str) -> None:
    events = build_run_events(sample_record(outcome))
    assert [e["eventType"] for e in events] == [
        "START",
        "FAIL" if outcome == "error" else "COMPLETE",
    ]
    for event in events:
        assert _validate_event(event) >= 3
    end = events[1]
    facet = end["run"]["facets"]["kfm_decision"]
    assert facet["outcome"] == outcome
    assert facet["_producer"].startswith("https://")
    assert facet["_schemaURL"].endswith("#/$defs/KfmDecisionRunFacet")
    if outcome == "error":
        assert "errorMessage" in end["run"]["facets"]
    tags = {(t["key"], t["value"]) for t in end["inputs"][-1]["facets"]["tags"]["tags"]}
    assert ("care_class", "sacred") in tags and ("indigenous_rights_flag", "true") in tags
    assertions = end["inputs"][-1]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert len(assertions) == 3
    assert bool(end["outputs"]) == (outcome == "allow")


def test_invalid_facet_is_caught_by_the_schema_check() -> None:
    event = build_run_events(sample_record("deny"))[1]
    event["run"]["facets"]["kfm_decision"]["outcome"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        _validate_event(event)


def test_run_id_is_deterministic_uuid5() -> None:
    record = sample_record("allow")
    a, b = build_run_events(record), build_run_events(record)
    assert a == b
    rid = uuid.UUID(a[0]["run"]["runId"])
    assert rid.version == 5
    assert str(rid) == run_uuid(record.run_id, record.decision.request_digest)
    assert a[0]["eventTime"] == record.started_at and a[1]["eventTime"] == record.ended_at


class _Collector(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Collector.received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def marquez() -> Iterator[str]:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_http_transport_posts_events(marquez: str, tmp_path: Path) -> None:
    record = sample_record("deny")
    events = build_run_events(record)
    sinks = build_lineage_sinks({"openlineage": {"url": marquez}}, tmp_path)
    assert any(isinstance(s, HttpLineageSink) for s in sinks)
    for sink in sinks:
        sink.emit(events)
    assert [r["path"] for r in _Collector.received] == ["/api/v1/lineage"] * 2
    assert [r["body"] for r in _Collector.received] == events
    assert sorted(p.name for p in (tmp_path / "openlineage").iterdir()) == [
        "01-START.json",
        "02-COMPLETE.json",
    ]


def test_http_failure_is_a_record_error() -> None:
    from kfm_gate.errors import RecordError

    sink = HttpLineageSink("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(RecordError, match="not delivered"):
        sink.emit(build_run_events(sample_record("deny")))
