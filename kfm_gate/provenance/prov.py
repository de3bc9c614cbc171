"""PROV-O for one gate run, whatever its outcome.

::

    inputs (kfm:SourceEntity, checksums) --used--> materialization (process_id, code_ref, ...)
    candidates (kfm:CandidateOutput) --wasGeneratedBy--> materialization
    gate decision (prov:Activity, start/end) --used--> inputs, candidates, evidence reports
        --qualifiedAssociation--> [agent kfm-gate <version>, hadPlan policy bundle (digest, revision)]
    kfm-gate (prov:SoftwareAgent) --actedOnBehalfOf--> FAIR+CARE council (prov:Organization)
    decision (kfm:Decision) --wasGeneratedBy--> gate decision
    on allow: public entities --wasDerivedFrom--> candidates, generated through masking and
              redaction activities, influenced by the decision

Every node is an IRI (no blank nodes), so records merge idempotently into the lineage graph.
Evidence appears as counts and digests only; no raw value of the data is ever written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kfm_gate.ids import canonical_json, digest
from kfm_gate.models import GovernanceFlags
from kfm_gate.provenance.record import RunRecord

if TYPE_CHECKING:
    from rdflib import Graph, URIRef

#: namespace of kfm-gate's own terms
KFM_NS = "https://kfm.example/ns/kfm#"
#: base of the IRIs of the things kfm-gate describes
ID_BASE = "https://kfm.example/id/"
#: the council the software acts for
COUNCIL_ID = "agent/fair-care-council"

PREFIXES: dict[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "kfm": KFM_NS,
    "kfmid": ID_BASE,
    "prov": "http://www.w3.org/ns/prov#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

#: obligation kinds done by the masking activity (the rest of the public view: redaction)
MASKING_KINDS = frozenset({"generalize", "suppress"})
REDACTION_KINDS = frozenset({"redact"})


def iri_path(*parts: str) -> str:
    """An IRI under :data:`ID_BASE`; each part is percent-encoded except ``:`` ``-`` ``.`` ``_``."""
    return ID_BASE + "/".join(quote(p, safe=":-._~") for p in parts)


def _hex(value: str) -> str:
    return value.removeprefix("sha256:")


def evidence_figures(data: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Numbers and booleans of an evidence section, flattened with dotted keys.

    Strings and lists are left out on purpose: figures are counts and scores only, so nothing
    a collector quoted (a file name, a column, a row) can reach the provenance record.
    """
    out: dict[str, Any] = {}
    for key in sorted(data):
        value = data[key]
        name = f"{prefix}{key}"
        if isinstance(value, bool) or (
            isinstance(value, int | float) and value == value and abs(value) != float("inf")
        ):
            out[name] = value
        elif isinstance(value, Mapping) and depth < 2:
            out.update(evidence_figures(value, f"{name}.", depth + 1))
    return out


def flag_values(flags: GovernanceFlags) -> list[tuple[str, str | bool]]:
    """(kfm property local name, value) pairs of a set of flags, origins left out."""
    pairs: list[tuple[str, str | bool]] = [
        ("classification", flags.classification),
        ("sensitivity", flags.sensitivity),
        ("careClass", flags.care_class),
        ("indigenousRightsFlag", flags.indigenous_rights_flag),
    ]
    for prop, values in (
        ("sovereigntyAuthority", flags.sovereignty_authorities),
        ("tkLabel", flags.tk_labels),
        ("bcLabel", flags.bc_labels),
        ("notice", flags.notices),
        ("license", flags.licenses),
    ):
        pairs.extend((prop, v) for v in values)
    if flags.embargo_until is not None:
        pairs.append(("embargoUntil", flags.embargo_until.isoformat()))
    return pairs


def _candidate_checksums(record: RunRecord) -> dict[str, str]:
    """Declared output checksums, completed by those the checksum collector measured."""
    found: dict[str, str] = {}
    section = record.evidence.sections.get("checksums")
    if section is not None:
        for out in section.data.get("outputs", []) or []:
            if isinstance(out, Mapping) and isinstance(out.get("actual"), str):
                found[str(out.get("path"))] = out["actual"]
    for out in record.request.outputs:
        if out.sha256 is not None:
            found[out.path] = out.sha256
    return found


def build_prov_graph(record: RunRecord) -> Graph:
    """The PROV-O graph of one run (see the module docstring)."""
    from rdflib import Graph, Literal, Namespace, URIRef
    from rdflib.namespace import PROV, RDF, RDFS, XSD

    kfm = Namespace(KFM_NS)
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    add = g.add
    req, dec = record.request, record.decision
    folder = record.folder

    def node(*parts: str) -> URIRef:
        return URIRef(iri_path(*parts))

    def lit(value: Any, dtype: URIRef | None = None) -> Literal:
        if dtype is not None:
            return Literal(value, datatype=dtype)
        return Literal(value)

    def typed(subject: URIRef, *classes: URIRef) -> None:
        for cls in classes:
            add((subject, RDF.type, cls))

    # agents and plan --------------------------------------------------------------------
    council = node(*COUNCIL_ID.split("/"))
    typed(council, PROV.Agent, PROV.Organization)
    add((council, RDFS.label, lit("FAIR+CARE council")))
    agent = node("agent", "kfm-gate", record.version)
    typed(agent, PROV.Agent, PROV.SoftwareAgent)
    add((agent, RDFS.label, lit(f"kfm-gate {record.version}")))
    add((agent, kfm.version, lit(record.version)))
    add((agent, PROV.actedOnBehalfOf, council))
    plan = node("plan", _hex(dec.policy_digest))
    typed(plan, PROV.Entity, PROV.Plan, kfm.PolicyBundle)
    add((plan, kfm.digest, lit(dec.policy_digest)))
    add((plan, kfm.revision, lit(record.revision)))
    add((plan, kfm.engine, lit(dec.engine)))

    # inputs, materialization and candidates -------------------------------------------
    materialize = node("activity", "materialize", folder)
    typed(materialize, PROV.Activity, kfm.Materialization)
    add(
        (materialize, RDFS.label, lit(f"materialization of {req.asset_key} {record.partition_key}"))
    )
    add((materialize, kfm.process_id, lit(req.asset_key)))
    add((materialize, kfm.params_json, lit(canonical_json(req.params).decode("utf-8"))))
    if req.code_ref is not None:
        add((materialize, kfm.code_ref, lit(req.code_ref)))
    if req.container_digest is not None:
        add((materialize, kfm.container_digest, lit(req.container_digest)))
    add((materialize, kfm.partitionKey, lit(record.partition_key)))

    inputs: list[URIRef] = []
    for inp in sorted(req.inputs, key=lambda i: (i.id, i.sha256)):
        ent = node("input", inp.id, _hex(inp.sha256)[:24])
        inputs.append(ent)
        typed(ent, PROV.Entity, kfm.SourceEntity)
        add((ent, kfm.sourceId, lit(inp.id)))
        add((ent, kfm.kind, lit(inp.kind)))
        add((ent, kfm.checksum, lit(inp.sha256)))
        if inp.version is not None:
            add((ent, kfm.version, lit(inp.version)))
        if inp.flags is not None:
            for prop, value in flag_values(inp.flags):
                add((ent, kfm[prop], lit(value)))
        add((materialize, PROV.used, ent))

    checksums = _candidate_checksums(record)
    candidates: dict[str, URIRef] = {}
    for out in sorted(req.outputs, key=lambda o: o.path):
        ent = node("candidate", folder, out.path)
        candidates[out.path] = ent
        typed(ent, PROV.Entity, kfm.CandidateOutput)
        add((ent, kfm.path, lit(out.path)))
        add((ent, kfm.mediaType, lit(out.media_type)))
        add((ent, kfm.role, lit(out.role)))
        if out.path in checksums:
            add((ent, kfm.checksum, lit(checksums[out.path])))
        add((ent, PROV.wasGeneratedBy, materialize))
        for src in inputs:
            add((ent, PROV.wasDerivedFrom, src))

    # the gate decision ------------------------------------------------------------------
    gate = node("activity", "gate", folder)
    typed(gate, PROV.Activity, kfm.GateDecision)
    add((gate, RDFS.label, lit(f"kfm-gate decision for {req.asset_key} {record.partition_key}")))
    add((gate, PROV.startedAtTime, lit(record.started_at, XSD.dateTime)))
    add((gate, PROV.endedAtTime, lit(record.ended_at, XSD.dateTime)))
    add((gate, kfm.runId, lit(dec.run_id)))
    add((gate, PROV.wasAssociatedWith, agent))
    assoc = node("association", folder)
    typed(assoc, PROV.Association)
    add((assoc, PROV.agent, agent))
    add((assoc, PROV.hadPlan, plan))
    add((gate, PROV.qualifiedAssociation, assoc))
    for ent in [*inputs, *candidates.values()]:
        add((gate, PROV.used, ent))

    for name, section in sorted(record.evidence.sections.items()):
        ev = node("evidence", folder, name)
        typed(ev, PROV.Entity, kfm.EvidenceReport)
        if name == "quality":
            typed(ev, kfm.QualityReport)
        elif name == "pii":
            typed(ev, kfm.PiiReport)
        elif name == "obligations":
            typed(ev, kfm.MaskingReport)
        add((ev, kfm.section, lit(name)))
        add((ev, kfm.collector, lit(section.collector)))
        add((ev, kfm.status, lit(section.status)))
        add((ev, kfm.digest, lit(digest(section.to_json_dict()))))
        figures = evidence_figures(section.data)
        add((ev, kfm.figures, lit(json.dumps(figures, sort_keys=True, separators=(",", ":")))))
        add((gate, PROV.used, ev))

    decision = node("decision", dec.decision_id)
    typed(decision, PROV.Entity, kfm.Decision)
    add((decision, kfm.decisionId, lit(dec.decision_id)))
    add((decision, PROV.wasGeneratedBy, gate))
    add((decision, PROV.wasAttributedTo, agent))
    add((decision, PROV.generatedAtTime, lit(dec.evaluated_at, XSD.dateTime)))
    add((decision, kfm.outcome, lit(dec.outcome)))
    add((decision, kfm.kfmOutcome, lit(dec.kfm_outcome)))
    add((decision, kfm.lifecycleStage, lit(dec.lifecycle_stage)))
    add((decision, kfm.assetKey, lit(req.asset_key)))
    add((decision, kfm.partitionKey, lit(record.partition_key)))
    add((decision, kfm.runId, lit(dec.run_id)))
    add((decision, kfm.policyDigest, lit(dec.policy_digest)))
    add((decision, kfm.requestDigest, lit(dec.request_digest)))
    add((decision, kfm.evidenceDigest, lit(dec.evidence_digest)))
    for code in sorted(set(dec.reason_codes)):
        add((decision, kfm.reasonCode, lit(code)))
    for v in dec.violations:
        add((decision, kfm.violatedRule, lit(f"{v.rule} {v.code}")))
    for w in dec.warnings:
        add((decision, kfm.warnedRule, lit(f"{w.rule} {w.code}")))
    for wv in dec.waived:
        add((decision, kfm.waivedRule, lit(f"{wv.rule} {wv.code} {wv.waiver_id}")))
    for ob in dec.obligations:
        add((decision, kfm.obligation, lit(ob.code)))
    if dec.error is not None:
        add((decision, kfm.error, lit(dec.error[:500])))
    if record.flags is not None:
        for prop, value in flag_values(record.flags):
            add((decision, kfm[prop], lit(value)))
    else:
        add((decision, kfm.flagsMissing, lit(True)))

    # publication (allow only) -----------------------------------------------------------
    if dec.outcome == "allow" and record.public_files:
        _add_publication(g, record, gate, decision, candidates)
    return g


def _add_publication(
    g: Graph,
    record: RunRecord,
    gate: URIRef,
    decision: URIRef,
    candidates: Mapping[str, URIRef],
) -> None:
    from rdflib import Literal, Namespace, URIRef
    from rdflib.namespace import PROV, RDF, RDFS

    kfm = Namespace(KFM_NS)
    folder = record.folder
    mask = URIRef(iri_path("activity", "mask", folder))
    redact = URIRef(iri_path("activity", "redact", folder))
    g.add((mask, RDF.type, PROV.Activity))
    g.add((mask, RDF.type, kfm.Masking))
    g.add((mask, RDFS.label, Literal("masking and generalization of the public view")))
    g.add((redact, RDF.type, PROV.Activity))
    g.add((redact, RDF.type, kfm.Redaction))
    g.add((redact, RDFS.label, Literal("redaction of the public view")))
    g.add((redact, PROV.wasInformedBy, mask))
    for ob in record.decision.obligations:
        if ob.kind in MASKING_KINDS:
            g.add((mask, kfm.obligation, Literal(ob.code)))
        elif ob.kind in REDACTION_KINDS:
            g.add((redact, kfm.obligation, Literal(ob.code)))
    applied = record.evidence.sections.get("obligations")
    if applied is not None:
        g.add((mask, PROV.used, URIRef(iri_path("evidence", folder, "obligations"))))
    for cand in candidates.values():
        g.add((mask, PROV.used, cand))
    for pf in sorted(record.public_files, key=lambda f: f.relpath):
        ent = URIRef(iri_path("public", pf.relpath, _hex(pf.sha256)[:24]))
        g.add((ent, RDF.type, PROV.Entity))
        g.add((ent, RDF.type, kfm.PublicEntity))
        g.add((ent, kfm.path, Literal(pf.relpath)))
        g.add((ent, kfm.checksum, Literal(pf.sha256)))
        g.add((ent, kfm.size, Literal(pf.size)))
        g.add((ent, kfm.mediaType, Literal(pf.media_type)))
        g.add((ent, kfm.role, Literal(pf.role)))
        g.add((ent, PROV.wasGeneratedBy, redact))
        g.add((ent, PROV.wasInfluencedBy, decision))
        if pf.source is not None and pf.source in candidates:
            sources = [candidates[pf.source]]
        else:
            sources = list(candidates.values())
        for src in sources:
            g.add((ent, PROV.wasDerivedFrom, src))
    del gate


def public_entity_iri(relpath: str, sha256: str) -> str:
    """The IRI :func:`build_prov_graph` gives a published file (used by the catalogs)."""
    return iri_path("public", relpath, _hex(sha256)[:24])


def decision_iri(decision_id: str) -> str:
    return iri_path("decision", decision_id)


def serialize_turtle(g: Graph, prefixes: Mapping[str, str] | None = None) -> bytes:
    """Turtle whose bytes depend on the triples only (see :mod:`kfm_gate.provenance.rdfwrite`)."""
    from kfm_gate.provenance.rdfwrite import to_turtle

    return to_turtle(g, prefixes or PREFIXES)


def serialize_jsonld(g: Graph, prefixes: Mapping[str, str] | None = None) -> bytes:
    """JSON-LD with a context of the prefixes, nodes and values sorted."""
    from kfm_gate.provenance.rdfwrite import to_jsonld

    return to_jsonld(g, prefixes or PREFIXES)


def prov_documents(record: RunRecord) -> dict[str, bytes]:
    """``{'prov.ttl': ..., 'prov.jsonld': ...}`` for one run."""
    g = build_prov_graph(record)
    return {"prov.ttl": serialize_turtle(g), "prov.jsonld": serialize_jsonld(g)}


def write_prov(run_dir: Path, record: RunRecord) -> list[Path]:
    """Write ``prov.ttl`` and ``prov.jsonld`` into ``run_dir`` atomically; returns the paths."""
    from kfm_gate.layout import atomic_write

    written = []
    for name, data in sorted(prov_documents(record).items()):
        atomic_write(run_dir / name, data)
        written.append(run_dir / name)
    return written


#: RDF local name of a flag property -> the GovernanceFlags field it comes from
FLAG_FIELDS = {
    "classification": "classification",
    "sensitivity": "sensitivity",
    "careClass": "care_class",
    "indigenousRightsFlag": "indigenous_rights_flag",
    "sovereigntyAuthority": "sovereignty_authority",
    "tkLabel": "tk_label",
    "bcLabel": "bc_label",
    "notice": "notice",
    "license": "license",
    "embargoUntil": "embargo_until",
}


def iter_flag_tags(flags: GovernanceFlags | None) -> list[tuple[str, str]]:
    """(key, value) string pairs of flags, for tags; empty when flags are missing.

    Keys are the flag field names (singular for set members: ``tk_label``), values strings
    (``true``/``false`` for the indigenous-rights flag).
    """
    if flags is None:
        return []
    return [
        (FLAG_FIELDS[k], str(v).lower() if isinstance(v, bool) else str(v))
        for k, v in flag_values(flags)
    ]
