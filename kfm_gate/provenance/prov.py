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

A request that could not be parsed (``record.request is None``, outcome error) has no inputs,
materialization or candidates: the gate decision ``prov:used`` one ``kfm:SubmittedRequest``
entity identified by the digest of the submitted bytes (never their content).

Every node is an IRI (no blank nodes), so records merge idempotently into the lineage graph.
Evidence appears as counts and digests only; no raw value of the data is ever written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kfm_gate.ids import canonical_json, digest
from kfm_gate.models import GovernanceFlags
from kfm_gate.provenance.record import RunRecord

if TYPE_CHECKING:
    from rdflib import Graph, Literal, URIRef

    from kfm_gate.provenance.rdfwrite import Triples

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
    req = record.parsed_request
    found: dict[str, str] = {}
    section = record.evidence.sections.get("checksums")
    if section is not None:
        for out in section.data.get("outputs", []) or []:
            if isinstance(out, Mapping) and isinstance(out.get("actual"), str):
                found[str(out.get("path"))] = out["actual"]
    for out in req.outputs:
        if out.sha256 is not None:
            found[out.path] = out.sha256
    return found


#: an rdflib triple (subject, predicate, object)
Triple = tuple[Any, Any, Any]


@cache
def _term(curie: str) -> URIRef:
    """The IRI of ``prefix:local`` (one rdflib term per process for each constant term)."""
    from rdflib import URIRef

    prefix, _, local = curie.partition(":")
    return URIRef(PREFIXES[prefix] + local)


class _TripleList:
    """Triples in insertion order without duplicates (what a graph would hold, without the
    cost of rdflib's indexed store: the writers only iterate over them)."""

    def __init__(self) -> None:
        self.triples: list[Triple] = []
        self._seen: set[Triple] = set()

    def add(self, triple: Triple) -> None:
        if triple not in self._seen:
            self._seen.add(triple)
            self.triples.append(triple)


def build_prov_graph(record: RunRecord) -> Graph:
    """The PROV-O graph of one run (see the module docstring) as an rdflib graph."""
    from rdflib import Graph

    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    for triple in prov_triples(record):
        g.add(triple)
    return g


def prov_triples(record: RunRecord) -> list[Triple]:
    """The triples of :func:`build_prov_graph` (rdflib terms, no duplicates), as a list."""
    from rdflib import Literal, URIRef

    t = _term
    out = _TripleList()
    add = out.add
    rdf_type = t("rdf:type")
    req, dec = record.request, record.decision
    folder = record.folder

    def node(*parts: str) -> URIRef:
        return URIRef(iri_path(*parts))

    def lit(value: Any, dtype: URIRef | None = None) -> Literal:
        if dtype is not None:
            return Literal(value, datatype=dtype)
        return Literal(value)

    def typed(subject: URIRef, *classes: str) -> None:
        for cls in classes:
            add((subject, rdf_type, t(cls)))

    def kfm(local: str) -> URIRef:
        return t(f"kfm:{local}")

    label, used, xsd_datetime = t("rdfs:label"), t("prov:used"), t("xsd:dateTime")

    # agents and plan --------------------------------------------------------------------
    council = node(*COUNCIL_ID.split("/"))
    typed(council, "prov:Agent", "prov:Organization")
    add((council, label, lit("FAIR+CARE council")))
    agent = node("agent", "kfm-gate", record.version)
    typed(agent, "prov:Agent", "prov:SoftwareAgent")
    add((agent, label, lit(f"kfm-gate {record.version}")))
    add((agent, kfm("version"), lit(record.version)))
    add((agent, t("prov:actedOnBehalfOf"), council))
    plan = node("plan", _hex(dec.policy_digest))
    typed(plan, "prov:Entity", "prov:Plan", "kfm:PolicyBundle")
    add((plan, kfm("digest"), lit(dec.policy_digest)))
    add((plan, kfm("revision"), lit(record.revision)))
    add((plan, kfm("engine"), lit(dec.engine)))

    # inputs, materialization and candidates (or the rejected request) -----------------
    partition_key = record.partition_key
    inputs: list[URIRef] = []
    candidates: dict[str, URIRef] = {}
    generated_by, derived_from = t("prov:wasGeneratedBy"), t("prov:wasDerivedFrom")
    if req is None:
        subject = "an invalid request"
        submitted = node("request", folder)
        typed(submitted, "prov:Entity", "kfm:SubmittedRequest")
        add((submitted, label, lit("request rejected before evaluation")))
        # the digest of the submitted bytes, as request.json names it; never their content
        add((submitted, kfm("checksum"), lit(dec.request_digest)))
        inputs.append(submitted)
    else:
        subject = f"{req.asset_key} {partition_key}"
        materialize = node("activity", "materialize", folder)
        typed(materialize, "prov:Activity", "kfm:Materialization")
        add((materialize, label, lit(f"materialization of {subject}")))
        add((materialize, kfm("process_id"), lit(req.asset_key)))
        add((materialize, kfm("params_json"), lit(canonical_json(req.params).decode("utf-8"))))
        if req.code_ref is not None:
            add((materialize, kfm("code_ref"), lit(req.code_ref)))
        if req.container_digest is not None:
            add((materialize, kfm("container_digest"), lit(req.container_digest)))
        add((materialize, kfm("partitionKey"), lit(partition_key)))

        for inp in sorted(req.inputs, key=lambda i: (i.id, i.sha256)):
            ent = node("input", inp.id, _hex(inp.sha256)[:24])
            inputs.append(ent)
            typed(ent, "prov:Entity", "kfm:SourceEntity")
            add((ent, kfm("sourceId"), lit(inp.id)))
            add((ent, kfm("kind"), lit(inp.kind)))
            add((ent, kfm("checksum"), lit(inp.sha256)))
            if inp.version is not None:
                add((ent, kfm("version"), lit(inp.version)))
            if inp.flags is not None:
                for prop, value in flag_values(inp.flags):
                    add((ent, kfm(prop), lit(value)))
            add((materialize, used, ent))

        checksums = _candidate_checksums(record)
        for out_file in sorted(req.outputs, key=lambda o: o.path):
            ent = node("candidate", folder, out_file.path)
            candidates[out_file.path] = ent
            typed(ent, "prov:Entity", "kfm:CandidateOutput")
            add((ent, kfm("path"), lit(out_file.path)))
            add((ent, kfm("mediaType"), lit(out_file.media_type)))
            add((ent, kfm("role"), lit(out_file.role)))
            if out_file.path in checksums:
                add((ent, kfm("checksum"), lit(checksums[out_file.path])))
            add((ent, generated_by, materialize))
            for src in inputs:
                add((ent, derived_from, src))

    # the gate decision ------------------------------------------------------------------
    gate = node("activity", "gate", folder)
    typed(gate, "prov:Activity", "kfm:GateDecision")
    add((gate, label, lit(f"kfm-gate decision for {subject}")))
    add((gate, t("prov:startedAtTime"), lit(record.started_at, xsd_datetime)))
    add((gate, t("prov:endedAtTime"), lit(record.ended_at, xsd_datetime)))
    add((gate, kfm("runId"), lit(dec.run_id)))
    add((gate, t("prov:wasAssociatedWith"), agent))
    assoc = node("association", folder)
    typed(assoc, "prov:Association")
    add((assoc, t("prov:agent"), agent))
    add((assoc, t("prov:hadPlan"), plan))
    add((gate, t("prov:qualifiedAssociation"), assoc))
    for ent in [*inputs, *candidates.values()]:
        add((gate, used, ent))

    for name, section in sorted(record.evidence.sections.items()):
        ev = node("evidence", folder, name)
        typed(ev, "prov:Entity", "kfm:EvidenceReport")
        if name == "quality":
            typed(ev, "kfm:QualityReport")
        elif name == "pii":
            typed(ev, "kfm:PiiReport")
        elif name == "obligations":
            typed(ev, "kfm:MaskingReport")
        add((ev, kfm("section"), lit(name)))
        add((ev, kfm("collector"), lit(section.collector)))
        add((ev, kfm("status"), lit(section.status)))
        add((ev, kfm("digest"), lit(digest(section.to_json_dict()))))
        figures = evidence_figures(section.data)
        add((ev, kfm("figures"), lit(json.dumps(figures, sort_keys=True, separators=(",", ":")))))
        add((gate, used, ev))

    decision = node("decision", dec.decision_id)
    typed(decision, "prov:Entity", "kfm:Decision")
    add((decision, kfm("decisionId"), lit(dec.decision_id)))
    add((decision, generated_by, gate))
    add((decision, t("prov:wasAttributedTo"), agent))
    add((decision, t("prov:generatedAtTime"), lit(dec.evaluated_at, xsd_datetime)))
    add((decision, kfm("outcome"), lit(dec.outcome)))
    add((decision, kfm("kfmOutcome"), lit(dec.kfm_outcome)))
    add((decision, kfm("lifecycleStage"), lit(dec.lifecycle_stage)))
    add((decision, kfm("assetKey"), lit(dec.asset_key)))
    if partition_key:  # none for a request that could not be parsed
        add((decision, kfm("partitionKey"), lit(partition_key)))
    add((decision, kfm("runId"), lit(dec.run_id)))
    add((decision, kfm("policyDigest"), lit(dec.policy_digest)))
    add((decision, kfm("requestDigest"), lit(dec.request_digest)))
    add((decision, kfm("evidenceDigest"), lit(dec.evidence_digest)))
    for code in sorted(set(dec.reason_codes)):
        add((decision, kfm("reasonCode"), lit(code)))
    for v in dec.violations:
        add((decision, kfm("violatedRule"), lit(f"{v.rule} {v.code}")))
    for w in dec.warnings:
        add((decision, kfm("warnedRule"), lit(f"{w.rule} {w.code}")))
    for wv in dec.waived:
        add((decision, kfm("waivedRule"), lit(f"{wv.rule} {wv.code} {wv.waiver_id}")))
    for ob in dec.obligations:
        add((decision, kfm("obligation"), lit(ob.code)))
    if dec.error is not None:
        add((decision, kfm("error"), lit(dec.error[:500])))
    if record.flags is not None:
        for prop, value in flag_values(record.flags):
            add((decision, kfm(prop), lit(value)))
    else:
        add((decision, kfm("flagsMissing"), lit(True)))

    # publication (allow only) -----------------------------------------------------------
    if dec.outcome == "allow" and record.public_files:
        _add_publication(out, record, decision, candidates)
    return out.triples


def _add_publication(
    out: _TripleList,
    record: RunRecord,
    decision: URIRef,
    candidates: Mapping[str, URIRef],
) -> None:
    from rdflib import Literal, URIRef

    t, add = _term, out.add
    rdf_type, label, kfm_obligation = t("rdf:type"), t("rdfs:label"), t("kfm:obligation")
    folder = record.folder
    mask = URIRef(iri_path("activity", "mask", folder))
    redact = URIRef(iri_path("activity", "redact", folder))
    add((mask, rdf_type, t("prov:Activity")))
    add((mask, rdf_type, t("kfm:Masking")))
    add((mask, label, Literal("masking and generalization of the public view")))
    add((redact, rdf_type, t("prov:Activity")))
    add((redact, rdf_type, t("kfm:Redaction")))
    add((redact, label, Literal("redaction of the public view")))
    add((redact, t("prov:wasInformedBy"), mask))
    for ob in record.decision.obligations:
        if ob.kind in MASKING_KINDS:
            add((mask, kfm_obligation, Literal(ob.code)))
        elif ob.kind in REDACTION_KINDS:
            add((redact, kfm_obligation, Literal(ob.code)))
    used = t("prov:used")
    applied = record.evidence.sections.get("obligations")
    if applied is not None:
        add((mask, used, URIRef(iri_path("evidence", folder, "obligations"))))
    for cand in candidates.values():
        add((mask, used, cand))
    for pf in sorted(record.public_files, key=lambda f: f.relpath):
        ent = URIRef(iri_path("public", pf.relpath, _hex(pf.sha256)[:24]))
        add((ent, rdf_type, t("prov:Entity")))
        add((ent, rdf_type, t("kfm:PublicEntity")))
        add((ent, t("kfm:path"), Literal(pf.relpath)))
        add((ent, t("kfm:checksum"), Literal(pf.sha256)))
        add((ent, t("kfm:size"), Literal(pf.size)))
        add((ent, t("kfm:mediaType"), Literal(pf.media_type)))
        add((ent, t("kfm:role"), Literal(pf.role)))
        add((ent, t("prov:wasGeneratedBy"), redact))
        add((ent, t("prov:wasInfluencedBy"), decision))
        if pf.source is not None and pf.source in candidates:
            sources = [candidates[pf.source]]
        else:
            sources = list(candidates.values())
        for src in sources:
            add((ent, t("prov:wasDerivedFrom"), src))


def stac_item_iri(collection_id: str, item_id: str, version: int) -> str:
    """The IRI of one version of a partition's STAC item (used by the catalogs)."""
    return iri_path("stac", collection_id, item_id, f"v{version}")


def release_triples(
    *,
    kind: str,
    decision_id: str,
    run_id: str,
    collection_id: str,
    item_id: str,
    version: int,
    public_files: Sequence[tuple[str, str]],
    day: str,
    agent_version: str,
    reason: str | None = None,
    by: str | None = None,
) -> list[Triple]:
    """PROV of what the publisher did with an allowed decision's partition.

    ``publish``: a ``kfm:Publication`` activity used the decision and the public view
    (``public_files``: (path, sha256)) and generated the STAC item version. ``withdraw``: a
    ``kfm:Withdrawal`` invalidated them, with its reason, informed by the decision that denied
    the partition (``by`` a decision id) or associated with the FAIR+CARE council.
    """
    from rdflib import Literal, URIRef

    if kind not in ("publish", "withdraw"):
        raise ValueError(f"release kind {kind!r}: publish or withdraw")
    t = _term
    out = _TripleList()
    add = out.add
    rdf_type, label = t("rdf:type"), t("rdfs:label")
    xsd_datetime = t("xsd:dateTime")
    agent = URIRef(iri_path("agent", "kfm-gate", agent_version))
    item = URIRef(stac_item_iri(collection_id, item_id, version))
    act = URIRef(iri_path("activity", kind, item_id, f"v{version}"))
    decision = URIRef(decision_iri(decision_id))
    at = Literal(f"{day}T00:00:00Z", datatype=xsd_datetime)
    entities = [URIRef(public_entity_iri(path, sha)) for path, sha in sorted(public_files)]
    add((act, rdf_type, t("prov:Activity")))
    add((act, t("prov:startedAtTime"), at))
    add((act, t("prov:endedAtTime"), at))
    add((act, t("prov:wasAssociatedWith"), agent))
    add((act, t("kfm:runId"), Literal(run_id)))
    if kind == "publish":
        add((act, rdf_type, t("kfm:Publication")))
        add((act, label, Literal(f"publication of {item_id} v{version}")))
        add((act, t("prov:used"), decision))
        for ent in entities:
            add((act, t("prov:used"), ent))
        add((item, t("prov:wasGeneratedBy"), act))
        return out.triples
    add((act, rdf_type, t("kfm:Withdrawal")))
    add((act, label, Literal(f"withdrawal of {item_id} v{version}")))
    if reason:
        add((act, t("kfm:reason"), Literal(reason[:500])))
    if by and by.startswith("decision:"):
        add((act, t("prov:used"), URIRef(decision_iri(by))))
    else:
        council = URIRef(iri_path(*COUNCIL_ID.split("/")))
        add((act, t("prov:wasAssociatedWith"), council))
    for ent in [item, *entities]:
        add((ent, t("prov:wasInvalidatedBy"), act))
        add((ent, t("prov:invalidatedAtTime"), at))
    return out.triples


def public_entity_iri(relpath: str, sha256: str) -> str:
    """The IRI :func:`build_prov_graph` gives a published file (used by the catalogs)."""
    return iri_path("public", relpath, _hex(sha256)[:24])


def decision_iri(decision_id: str) -> str:
    return iri_path("decision", decision_id)


def serialize_turtle(g: Triples, prefixes: Mapping[str, str] | None = None) -> bytes:
    """Turtle whose bytes depend on the triples only (see :mod:`kfm_gate.provenance.rdfwrite`)."""
    from kfm_gate.provenance.rdfwrite import to_turtle

    return to_turtle(g, prefixes or PREFIXES)


def serialize_jsonld(g: Triples, prefixes: Mapping[str, str] | None = None) -> bytes:
    """JSON-LD with a context of the prefixes, nodes and values sorted."""
    from kfm_gate.provenance.rdfwrite import to_jsonld

    return to_jsonld(g, prefixes or PREFIXES)


def prov_documents(record: RunRecord) -> dict[str, bytes]:
    """``{'prov.ttl': ..., 'prov.jsonld': ...}`` for one run."""
    triples = prov_triples(record)
    return {"prov.ttl": serialize_turtle(triples), "prov.jsonld": serialize_jsonld(triples)}


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
