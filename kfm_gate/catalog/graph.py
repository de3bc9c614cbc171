"""The lineage graph: an embedded RDF store merging PROV, STAC and DCAT triples.

:class:`GraphSink` is the protocol; :class:`RdfGraphSink` (the default) keeps the store as
sorted N-Triples in ``data/graph/lineage.nt``: a merge is a set union of lines, so merging the
same records again changes nothing (no blank nodes are ever written, so lines are stable).
:func:`lineage_walk` follows PROV edges back from an entity to its sources and processes;
:func:`diff_partitions` compares the latest recorded runs of two partitions.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kfm_gate.errors import InputError, RecordError
from kfm_gate.provenance.prov import KFM_NS, decision_iri, iri_path, public_entity_iri
from kfm_gate.provenance.record import RunRecord

if TYPE_CHECKING:
    from rdflib import Graph

GRAPH_FILE = "data/graph/lineage.nt"
PROV_NS = "http://www.w3.org/ns/prov#"


@runtime_checkable
class GraphSink(Protocol):
    """Where lineage triples are ingested; merging must be idempotent."""

    def plan_merge(self, graphs: Iterable[Graph]) -> tuple[bytes | None, int]:
        """(new store bytes or None when nothing changes, number of triples added)."""
        ...

    def merge(self, graphs: Iterable[Graph]) -> int:
        """Merge and persist; returns the number of triples added."""
        ...

    def graph(self) -> Graph:
        """The whole store as an rdflib graph (read-only use)."""
        ...


class RdfGraphSink:
    """The default :class:`GraphSink`: sorted N-Triples persisted at ``<root>/data/graph/``."""

    def __init__(self, root: Path, relpath: str = GRAPH_FILE) -> None:
        self.root = root
        self.path = root / relpath

    def _lines(self) -> set[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return set()
        except OSError as err:
            raise RecordError(f"cannot read the lineage graph {self.path}: {err}") from err
        return {line for line in data.split(b"\n") if line}

    def plan_merge(self, graphs: Iterable[Graph]) -> tuple[bytes | None, int]:
        existing = self._lines()
        new: set[bytes] = set()
        for g in graphs:
            data: bytes = g.serialize(format="nt", encoding="utf-8")
            new.update(line for line in data.split(b"\n") if line)
        added = new - existing
        if not added and self.path.exists():
            return None, 0
        return b"\n".join(sorted(existing | new)) + b"\n", len(added)

    def merge(self, graphs: Iterable[Graph]) -> int:
        from kfm_gate.layout import atomic_write

        data, added = self.plan_merge(graphs)
        if data is not None:
            atomic_write(self.path, data)
        return added

    def graph(self) -> Graph:
        from rdflib import Graph

        g = Graph()
        if self.path.exists():
            g.parse(self.path, format="nt")
        return g


def build_stac_triples(record: RunRecord, version: int, root: Path) -> Graph:
    """Triples tying the STAC item (this version) to the published entities and the decision."""
    from rdflib import Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, PROV, RDF

    kfm = Namespace(KFM_NS)
    g = Graph()
    item = URIRef(iri_path("stac", record.collection_id, record.item_id, f"v{version}"))
    g.add((item, RDF.type, PROV.Entity))
    g.add((item, RDF.type, kfm.StacItem))
    g.add((item, DCTERMS.identifier, Literal(record.item_id)))
    g.add((item, kfm.version, Literal(str(version))))
    g.add((item, kfm.path, Literal(f"data/stac/{record.collection_id}/{record.item_id}/item.json")))
    g.add((item, DCTERMS.isPartOf, URIRef(iri_path("dataset", record.collection_id))))
    g.add((item, PROV.wasInfluencedBy, URIRef(decision_iri(record.decision.decision_id))))
    for pf in record.public_files:
        g.add((item, PROV.wasDerivedFrom, URIRef(public_entity_iri(pf.relpath, pf.sha256))))
    if version > 1:
        prev = URIRef(iri_path("stac", record.collection_id, record.item_id, f"v{version - 1}"))
        g.add((item, PROV.wasRevisionOf, prev))
    del root
    return g


# -- lineage walk ------------------------------------------------------------------------

_BACK = (
    "wasDerivedFrom",
    "wasRevisionOf",
    "wasGeneratedBy",
    "used",
    "wasInformedBy",
    "wasInfluencedBy",
    "wasAssociatedWith",
    "actedOnBehalfOf",
)
_LOOKUP = (
    "http://purl.org/dc/terms/identifier",
    KFM_NS + "decisionId",
    KFM_NS + "runId",
    KFM_NS + "path",
    KFM_NS + "sourceId",
)


@dataclass(frozen=True)
class LineageEdge:
    depth: int
    subject: str
    predicate: str
    object: str


@dataclass(frozen=True)
class LineageReport:
    """What :func:`lineage_walk` found: edges back from ``start``, sources and processes."""

    entity: str
    start: tuple[str, ...]
    edges: tuple[LineageEdge, ...]
    sources: tuple[str, ...]
    processes: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if self.start else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "start": list(self.start),
            "edges": [e.__dict__ for e in self.edges],
            "sources": list(self.sources),
            "processes": list(self.processes),
        }

    def render_text(self) -> str:
        if not self.start:
            return f"lineage: {self.entity!r} is not in the lineage graph"

        def short(iri: str) -> str:
            label = self.labels.get(iri)
            name = iri.removeprefix("https://kfm.example/id/")
            return f"{name} ({label})" if label else name

        lines = [f"lineage of {self.entity}:"]
        for e in self.edges:
            pred = e.predicate.rsplit("#", 1)[-1]
            lines.append(f"{'  ' * e.depth}- {short(e.subject)} --{pred}--> {short(e.object)}")
        lines.append("sources:")
        lines.extend(f"  {short(s)}" for s in self.sources)
        lines.append("processes:")
        lines.extend(f"  {short(p)}" for p in self.processes)
        return "\n".join(lines)


def _find_start(g: Graph, entity: str) -> list[Any]:
    from rdflib import Literal, URIRef

    if entity.startswith(("http://", "https://")):
        ref = URIRef(entity)
        return [ref] if (ref, None, None) in g else []
    found: set[Any] = set()
    for pred in _LOOKUP:
        found.update(g.subjects(URIRef(pred), Literal(entity)))
    if not found:
        # a decision or run id given as its IRI path part
        for candidate in (decision_iri(entity), iri_path("activity", "gate", entity)):
            if (URIRef(candidate), None, None) in g:
                found.add(URIRef(candidate))
    return sorted(found)


def lineage_walk(
    entity: str, *, root: Path | None = None, graph: Graph | None = None, max_depth: int = 12
) -> LineageReport:
    """Walk PROV edges back from ``entity`` (IRI, STAC item id, decision or run id, file path)."""
    from rdflib import URIRef
    from rdflib.namespace import PROV, RDF, RDFS

    if graph is None:
        if root is None:
            raise InputError("lineage_walk needs a graph or a repository root")
        graph = RdfGraphSink(root).graph()
    g = graph
    start = _find_start(g, entity)
    preds = [URIRef(PROV_NS + p) for p in _BACK]
    edges: list[LineageEdge] = []
    seen = set(start)
    frontier = list(start)
    depth = 0
    while frontier and depth < max_depth:
        nxt = []
        for node in frontier:
            for p in preds:
                for o in sorted(g.objects(node, p), key=str):
                    edges.append(LineageEdge(depth, str(node), str(p), str(o)))
                    if o not in seen:
                        seen.add(o)
                        nxt.append(o)
            for assoc in sorted(g.objects(node, PROV.qualifiedAssociation), key=str):
                for plan in sorted(g.objects(assoc, PROV.hadPlan), key=str):
                    edges.append(LineageEdge(depth, str(node), str(PROV.hadPlan), str(plan)))
                    if plan not in seen:
                        seen.add(plan)
        frontier = sorted(nxt)
        depth += 1
    kfm_source = URIRef(KFM_NS + "SourceEntity")
    sources = sorted(str(n) for n in seen if (n, RDF.type, kfm_source) in g)
    processes = sorted(str(n) for n in seen if (n, RDF.type, PROV.Activity) in g)
    labels = {str(n): str(lbl) for n in seen for lbl in g.objects(n, RDFS.label)}
    return LineageReport(
        entity, tuple(str(s) for s in start), tuple(edges), tuple(sources), tuple(processes), labels
    )


# -- partition diff -----------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionDiff:
    """Differences between the latest recorded runs of two partitions."""

    a: str
    b: str
    run_a: str
    run_b: str
    changes: tuple[tuple[str, Any, Any], ...]

    @property
    def exit_code(self) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "run_a": self.run_a,
            "run_b": self.run_b,
            "changes": [{"field": k, "a": va, "b": vb} for k, va, vb in self.changes],
        }

    def render_text(self) -> str:
        head = f"diff {self.a} ({self.run_a}) -> {self.b} ({self.run_b})"
        if not self.changes:
            return head + ": no differences"
        lines = [head + f": {len(self.changes)} difference(s)"]
        for key, va, vb in self.changes:
            lines.append(f"  {key}: {_fmt(va)} -> {_fmt(vb)}")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def resolve_partition(root: Path, spec: str) -> dict[str, Any]:
    """The latest ledger entry for ``spec``: a run id, ``aoi|day`` or ``<asset key>@aoi|day``."""
    from kfm_gate.provenance.ledger import Ledger

    asset, _, part = spec.rpartition("@")
    entries = Ledger(root / "mcp" / "ledger.jsonl").entries()
    match = [
        e
        for e in entries
        if e.get("run_id") == spec
        or (e.get("partition") == part and (not asset or e.get("asset_key") == asset))
    ]
    if not match:
        raise InputError(
            f"no recorded run for {spec!r} in {root / 'mcp' / 'ledger.jsonl'}; give a run id, "
            "'<aoi_key>|<YYYY-MM-DD>' or '<asset_key>@<aoi_key>|<YYYY-MM-DD>'"
        )
    return match[-1]


def summarize_prov(g: Graph) -> dict[str, Any]:
    """The figures :func:`diff_partitions` compares, read from a run's PROV graph."""
    from rdflib import URIRef
    from rdflib.namespace import RDF

    def k(name: str) -> URIRef:
        return URIRef(KFM_NS + name)

    out: dict[str, Any] = {}
    for dec in g.subjects(RDF.type, k("Decision")):
        for prop, key in (("outcome", "outcome"), ("policyDigest", "policy_digest")):
            for v in g.objects(dec, k(prop)):
                out[key] = str(v)
        for prop, key in (
            ("violatedRule", "rules.violated"),
            ("warnedRule", "rules.warned"),
            ("waivedRule", "rules.waived"),
            ("reasonCode", "reason_codes"),
            ("obligation", "obligations"),
        ):
            out[key] = sorted(str(v) for v in g.objects(dec, k(prop)))
        for prop in (
            "classification",
            "sensitivity",
            "careClass",
            "indigenousRightsFlag",
            "embargoUntil",
        ):
            vals = [str(v) for v in g.objects(dec, k(prop))]
            out[f"flags.{prop}"] = vals[0] if vals else None
        for prop in ("sovereigntyAuthority", "tkLabel", "bcLabel", "notice", "license"):
            out[f"flags.{prop}"] = sorted(str(v) for v in g.objects(dec, k(prop)))
    for ev in g.subjects(RDF.type, k("EvidenceReport")):
        section = str(g.value(ev, k("section")))
        out[f"evidence.{section}.status"] = str(g.value(ev, k("status")))
        figures = json.loads(str(g.value(ev, k("figures")) or "{}"))
        for name, value in figures.items():
            out[f"evidence.{section}.{name}"] = value
    for ent in g.subjects(RDF.type, k("SourceEntity")):
        out[f"checksum.input.{g.value(ent, k('sourceId'))}"] = str(g.value(ent, k("checksum")))
    for cls, key in (("CandidateOutput", "candidate"), ("PublicEntity", "public")):
        for ent in g.subjects(RDF.type, k(cls)):
            name = posixpath.basename(str(g.value(ent, k("path"))))
            out[f"checksum.{key}.{name}"] = str(g.value(ent, k("checksum")))
    return out


def diff_partitions(root: Path, a: str, b: str) -> PartitionDiff:
    """What changed between partitions ``a`` and ``b``: flags, evidence, checksums, outcome, rules."""
    from rdflib import Graph

    from kfm_gate.ids import run_folder_name

    summaries = []
    runs = []
    for spec in (a, b):
        entry = resolve_partition(root, spec)
        prov_path = root / "mcp" / "runs" / run_folder_name(entry["run_id"]) / "prov.ttl"
        try:
            g = Graph().parse(prov_path, format="turtle")
        except (OSError, ValueError) as err:
            raise RecordError(f"cannot read the PROV record {prov_path}: {err}") from err
        runs.append(str(entry["run_id"]))
        summaries.append(summarize_prov(g))
    sa, sb = summaries
    changes = tuple(
        (key, sa.get(key), sb.get(key))
        for key in sorted(set(sa) | set(sb))
        if sa.get(key) != sb.get(key)
    )
    return PartitionDiff(a, b, runs[0], runs[1], changes)
