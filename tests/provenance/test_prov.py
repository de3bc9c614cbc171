"""PROV-O records: SHACL-valid for every outcome, parse back exactly, deterministic, no leaks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import PROV

from kfm_gate.models import Evidence, EvidenceSection
from kfm_gate.provenance.prov import build_prov_graph, prov_documents
from kfm_gate.provenance.shapes import validate_prov
from kfm_gate.samples import sample_record

OUTCOMES = ["allow", "deny", "quarantine", "error"]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_outcome_validates_against_shapes_with_prov_o(outcome: str) -> None:
    graph = build_prov_graph(sample_record(outcome))
    report = validate_prov(graph)
    assert report.conforms, report.text


# rdflib's JSON-LD parser still builds a ConjunctiveGraph internally (upstream deprecation)
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_turtle_and_jsonld_parse_back_to_the_same_graph(outcome: str) -> None:
    record = sample_record(outcome)
    graph = build_prov_graph(record)
    docs = prov_documents(record)
    ttl = Graph().parse(data=docs["prov.ttl"].decode(), format="turtle")
    jsonld = Graph().parse(data=docs["prov.jsonld"].decode(), format="json-ld")
    assert isomorphic(graph, ttl)
    assert isomorphic(graph, jsonld)


def test_decision_structure() -> None:
    g = build_prov_graph(sample_record("allow"))
    q = """
    PREFIX prov: <http://www.w3.org/ns/prov#>
    PREFIX kfm: <https://kfm.example/ns/kfm#>
    SELECT ?plan ?digest ?council ?mat ?pid WHERE {
      ?act a kfm:GateDecision ; prov:qualifiedAssociation ?as ; prov:startedAtTime ?s ;
           prov:endedAtTime ?e .
      ?as prov:hadPlan ?plan ; prov:agent ?agent .
      ?plan kfm:digest ?digest .
      ?agent prov:actedOnBehalfOf ?council .
      ?dec a kfm:Decision ; prov:wasGeneratedBy ?act .
      ?pub a kfm:PublicEntity ; prov:wasDerivedFrom ?cand ; prov:wasGeneratedBy ?red .
      ?red prov:wasInformedBy ?mask . ?mask a kfm:Masking .
      ?cand prov:wasGeneratedBy ?mat . ?mat kfm:process_id ?pid ; kfm:params_json ?pj ;
           kfm:code_ref ?cr ; kfm:container_digest ?cd .
    }"""
    rows = list(g.query(q))
    assert rows, "expected the full allow chain"
    assert str(rows[0][1]).startswith("sha256:")
    assert str(rows[0][4]) == "kfm/historic_sites/public"


@pytest.mark.parametrize("outcome", ["deny", "quarantine", "error"])
def test_no_public_entities_unless_allow(outcome: str) -> None:
    g = build_prov_graph(sample_record(outcome))
    kfm_public = URIRef("https://kfm.example/ns/kfm#PublicEntity")
    assert not list(g.subjects(None, kfm_public))


def test_shapes_reject_a_broken_record() -> None:
    g = build_prov_graph(sample_record("allow"))
    for triple in list(g.triples((None, PROV.hadPlan, None))):
        g.remove(triple)
    report = validate_prov(g)
    assert not report.conforms
    assert "hadPlan" in report.text


def test_shapes_reject_public_entity_on_deny() -> None:
    allow = build_prov_graph(sample_record("allow"))
    outcome = URIRef("https://kfm.example/ns/kfm#outcome")
    for s, _, _ in list(allow.triples((None, outcome, None))):
        allow.set((s, outcome, __import__("rdflib").Literal("deny")))
    report = validate_prov(allow)
    assert not report.conforms
    assert "only an allowed decision" in report.text


def test_evidence_strings_never_reach_provenance() -> None:
    base = sample_record("deny")
    secret = "alice.smith@example.org"
    sections = dict(base.evidence.sections)
    sections["pii"] = EvidenceSection(
        collector="PiiCollector",
        data={
            "counts_by_type": {"EMAIL_ADDRESS": 1},
            "total_cells": 10,
            "findings": [{"entity_type": "EMAIL_ADDRESS", "sample": secret, "rows": [3]}],
            "note": secret,
        },
    )
    from dataclasses import replace

    record = replace(base, evidence=Evidence(sections=sections))
    docs = prov_documents(record)
    for data in docs.values():
        assert secret.encode() not in data
    assert b"EMAIL_ADDRESS" in docs["prov.ttl"]  # the count is there


_SCRIPT = """
import hashlib, json
from kfm_gate.provenance.prov import prov_documents
from kfm_gate.provenance.lineage import build_run_events, event_files
from kfm_gate.samples import sample_record
out = {}
for o in ["allow", "deny", "quarantine", "error"]:
    r = sample_record(o)
    files = {**prov_documents(r), **event_files(build_run_events(r))}
    out[o] = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
print(json.dumps(out, sort_keys=True))
"""


def test_bytes_identical_across_processes_and_hash_seeds() -> None:
    outs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        res = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1]
    assert hashlib.sha256(json.dumps(outs[0]).encode()).hexdigest()
