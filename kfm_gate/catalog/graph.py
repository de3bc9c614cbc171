"""The lineage graph: an embedded RDF store merging PROV, STAC and DCAT triples.

:class:`GraphSink` is the protocol; :class:`RdfGraphSink` (the default) keeps the store as
sorted N-Triples files, merged on read: the base ``data/graph/lineage.nt`` and a few
segments ``data/graph/lineage.d/<digest>.nt``. A publication writes only the lines the store
does not hold yet, as one new segment named by the digest of its bytes (looking lines up in
the base by binary search, never reading it whole); when the segments outgrow the base or
number :data:`MAX_SEGMENTS`, they are merged into the base in the same atomic publication
(the base doubles between merges, so each line is rewritten a logarithmic number of times).
Merging the same records again changes nothing (no blank nodes are ever written, so lines are
stable), and the union of the files does not depend on the order of the publications.
:func:`lineage_walk` follows PROV edges back from an entity to its sources and processes;
:func:`diff_partitions` compares the latest recorded runs of two partitions.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kfm_gate.errors import InputError, RecordError
from kfm_gate.layout import GRAPH_FILE, STAC
from kfm_gate.provenance.prov import (
    KFM_NS,
    decision_iri,
    iri_path,
    public_entity_iri,
    stac_item_iri,
)
from kfm_gate.provenance.rdfwrite import Triples, nt_lines
from kfm_gate.provenance.record import RunRecord

if TYPE_CHECKING:
    from rdflib import Graph

#: segments waiting to be merged into the base: beyond this many, the next write merges them
MAX_SEGMENTS = 32
PROV_NS = "http://www.w3.org/ns/prov#"


@dataclass(frozen=True)
class GraphUpdate:
    """What a merge writes (path -> bytes) and removes; ``added`` lines new to the store."""

    writes: dict[Path, bytes]
    removes: tuple[Path, ...]
    added: int


@runtime_checkable
class GraphSink(Protocol):
    """Where lineage triples are ingested; merging must be idempotent."""

    def plan_update(self, graphs: Iterable[Triples]) -> GraphUpdate:
        """The files to write and remove to merge ``graphs`` (nothing written here)."""
        ...

    def merge(self, graphs: Iterable[Triples]) -> int:
        """Merge and persist; returns the number of triples added."""
        ...

    def graph(self) -> Graph:
        """The whole store as an rdflib graph (read-only use)."""
        ...


def _bisect(buf: Any, line: bytes, lo: int) -> tuple[bool, int]:
    """Binary search of ``line`` in ``buf[lo:]`` (sorted, unique, newline-terminated lines;
    ``lo`` the start of a line): (found, start of ``line`` or of the first line after it)."""
    hi = len(buf)
    while lo < hi:
        mid = (lo + hi) // 2
        start = buf.rfind(b"\n", 0, mid) + 1
        end = buf.find(b"\n", start)
        if end < 0:
            end = len(buf)
        current = buf[start:end]
        if current == line:
            return True, start
        if current < line:
            lo = end + 1
        else:
            hi = start
    return False, lo


def _presence_sorted(buf: Any, lines: list[bytes]) -> dict[bytes, bool]:
    """``{line: present}`` for sorted, unique ``lines`` in ``buf`` (sorted, unique,
    newline-terminated lines).

    One pass: each search starts where the previous one ended, and a line that sorts before
    the line found there is absent without a search (new lines cluster, e.g. all the triples
    of one new subject fall between the same two lines of the base).
    """
    out: dict[bytes, bool] = {}
    size = len(buf)
    lo = 0
    for line in lines:
        if lo >= size:
            out[line] = False
            continue
        end = buf.find(b"\n", lo)
        current = buf[lo : end if end >= 0 else size]
        if line <= current:
            out[line] = line == current
            if line == current:
                lo = size if end < 0 else end + 1
            continue
        found, lo = _bisect(buf, line, lo)
        out[line] = found
    return out


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What identifies one version of a store file: kfm-gate replaces them by a rename (a new
    inode), never rewrites them in place."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_CACHE_MAX_LINES = 1_000_000


class GraphFileCache:
    """What one store's files held, remembered for as long as its owner lives (a publisher):

    * per segment path: (identity, its lines, its size); a segment never changes (its name is
      the digest of its bytes) until a compaction removes it;
    * per base path: (identity, line -> present), what bisection found in one version of the
      base, remembered until the base is replaced.

    Versions are told apart by :func:`_identity` (kfm-gate replaces store files by a rename,
    never rewrites them in place), so a cache never serves a file that changed.
    """

    def __init__(self) -> None:
        self.segments: dict[Path, tuple[tuple[int, ...], frozenset[bytes], int]] = {}
        self.base: dict[Path, tuple[tuple[int, ...], dict[bytes, bool]]] = {}

    def lines(self, path: Path, seen: os.stat_result | None = None) -> tuple[frozenset[bytes], int]:
        """The lines of a segment file and its size, read once per version of the file.

        ``seen``: the file's status from listing its folder; when it matches the cached
        version, the file is not opened at all."""
        if seen is not None:
            hit = self.segments.get(path)
            if hit is not None and hit[0] == _identity(seen):
                return hit[1], hit[2]
        try:
            with path.open("rb") as fh:
                key = _identity(os.fstat(fh.fileno()))
                hit = self.segments.get(path)
                if hit is not None and hit[0] == key:
                    return hit[1], hit[2]
                data = fh.read()
        except OSError as err:
            raise RecordError(f"cannot read the lineage graph file {path}: {err}") from err
        lines = frozenset(line for line in data.split(b"\n") if line)
        if sum(len(v[1]) for v in self.segments.values()) + len(lines) > _CACHE_MAX_LINES:
            self.segments.clear()
        self.segments[path] = (key, lines, len(data))
        return lines, len(data)

    def not_in_base(self, path: Path, lines: set[bytes]) -> list[bytes]:
        """The ``lines`` that the sorted base file at ``path`` does not hold."""
        try:
            with path.open("rb") as fh:
                st = os.fstat(fh.fileno())
                key = _identity(st)
                hit = self.base.get(path)
                if hit is None or hit[0] != key:
                    hit = self.base[path] = (key, {})
                memo = hit[1]
                todo = [line for line in lines if line not in memo]
                found: dict[bytes, bool] = {}
                if todo and st.st_size:
                    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                        found = _presence_sorted(mm, sorted(todo))
                elif todo:
                    found = dict.fromkeys(todo, False)
        except OSError as err:
            raise RecordError(f"cannot read the lineage graph file {path}: {err}") from err
        absent = [line for line in lines if not (found[line] if line in found else memo[line])]
        if len(memo) + len(found) > _CACHE_MAX_LINES:
            memo.clear()
        memo.update(found)
        return absent


class RdfGraphSink:
    """The default :class:`GraphSink`: sorted N-Triples base and segments under ``data/graph/``."""

    def __init__(
        self,
        root: Path,
        relpath: str = GRAPH_FILE,
        *,
        max_segments: int | None = None,
        cache: GraphFileCache | None = None,
    ) -> None:
        self.root = root
        #: what the store's files held, for as long as this sink (or the cache's owner) lives
        self.cache = cache or GraphFileCache()
        self.path = root / relpath
        self.segment_dir = self.path.with_name(self.path.stem + ".d")
        self.max_segments = MAX_SEGMENTS if max_segments is None else max_segments

    # -- reading -------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The store's files: the base (when present), then the segments in name order."""
        segments = sorted(self.segment_dir.glob("*.nt")) if self.segment_dir.is_dir() else []
        return ([self.path] if self.path.exists() else []) + segments

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as err:
            raise RecordError(f"cannot read the lineage graph file {path}: {err}") from err

    def read_bytes(self) -> bytes:
        """Every line of the store, sorted and unique (N-Triples, final newline)."""
        for _ in range(3):
            try:
                chunks = [p.read_bytes() for p in self.files()]
            except FileNotFoundError:
                continue  # a merge removed a segment while we listed them: list again
            except OSError as err:
                raise RecordError(f"cannot read the lineage graph {self.path}: {err}") from err
            lines = {line for chunk in chunks for line in chunk.split(b"\n") if line}
            return b"".join(line + b"\n" for line in sorted(lines))
        raise RecordError(f"the lineage graph {self.path} keeps changing while being read")

    def mentions(self, text: str) -> bool:
        """True when some line of the store contains ``text`` (e.g. a decision id)."""
        needle = text.encode("utf-8")
        return any(needle in self._read(p) for p in self.files())

    def graph(self) -> Graph:
        from rdflib import Graph

        g = Graph()
        data = self.read_bytes()
        if data:
            g.parse(data=data, format="nt")
        return g

    # -- writing -------------------------------------------------------------------------

    def _segments(self) -> list[tuple[Path, frozenset[bytes], int]]:
        """The segments (name order) with their lines and sizes, read through the cache."""
        try:
            with os.scandir(self.segment_dir) as listing:
                found = sorted((e.name, e) for e in listing if e.name.endswith(".nt"))
            out = []
            for name, entry in found:
                path = self.segment_dir / name
                lines, size = self.cache.lines(path, entry.stat())
                out.append((path, lines, size))
        except FileNotFoundError:
            if self.segment_dir.is_dir():  # a segment went away: only under another lock
                raise RecordError(
                    f"a segment of the lineage graph {self.segment_dir} vanished while being "
                    "read; re-run (publications hold the publication lock)"
                ) from None
            return []
        except OSError as err:
            raise RecordError(f"cannot list the lineage graph {self.segment_dir}: {err}") from err
        return out

    def plan_update(self, graphs: Iterable[Triples]) -> GraphUpdate:
        new: set[bytes] = set()
        for g in graphs:
            new |= nt_lines(g)
        segments = self._segments()
        candidates = new.difference(*(seg for _, seg, _ in segments))
        try:
            base_stat: os.stat_result | None = self.path.stat()
        except FileNotFoundError:
            base_stat = None
        except OSError as err:
            raise RecordError(f"cannot read the lineage graph file {self.path}: {err}") from err
        base_size = base_stat.st_size if base_stat is not None else 0
        if candidates and base_stat is not None and base_size:
            added = sorted(self.cache.not_in_base(self.path, candidates))
        else:
            added = sorted(candidates)
        if not added:
            return GraphUpdate({}, (), 0)
        segment = b"".join(line + b"\n" for line in added)
        pending = sum(size for _, _, size in segments) + len(segment)
        if pending < base_size and len(segments) < self.max_segments:
            name = hashlib.sha256(segment).hexdigest()[:32] + ".nt"
            return GraphUpdate({self.segment_dir / name: segment}, (), len(added))
        lines = set(self._read(self.path).split(b"\n")) if base_size else set()
        lines.discard(b"")
        for _, seg, _ in segments:
            lines |= seg
        lines.update(added)
        base = b"".join(line + b"\n" for line in sorted(lines))
        return GraphUpdate({self.path: base}, tuple(p for p, _, _ in segments), len(added))

    def merge(self, graphs: Iterable[Triples]) -> int:
        """Merge ``graphs`` and persist at once (one transaction); returns the lines added."""
        from kfm_gate.journal import Transaction
        from kfm_gate.layout import Layout

        txn = Transaction(Layout(self.root))
        with txn.lock.hold():  # no other transaction changes the store meanwhile
            update = self.plan_update(graphs)
            stage_update(txn, update)
            txn.commit()
        return update.added


def stage_update(txn: Any, update: GraphUpdate) -> None:
    """Stage a :class:`GraphUpdate` in a :class:`kfm_gate.journal.Transaction`."""
    for path, data in update.writes.items():
        txn.put(path, data)
    for path in update.removes:
        txn.remove(path)


def build_stac_triples(record: RunRecord, version: int, root: Path) -> Graph:
    """Triples tying the STAC item (this version) to the published entities and the decision."""
    from rdflib import Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, PROV, RDF

    kfm = Namespace(KFM_NS)
    g = Graph()
    item = URIRef(stac_item_iri(record.collection_id, record.item_id, version))
    g.add((item, RDF.type, PROV.Entity))
    g.add((item, RDF.type, kfm.StacItem))
    g.add((item, DCTERMS.identifier, Literal(record.item_id)))
    g.add((item, kfm.version, Literal(str(version))))
    g.add((item, kfm.path, Literal(f"{STAC}/{record.collection_id}/{record.item_id}/item.json")))
    g.add((item, DCTERMS.isPartOf, URIRef(iri_path("dataset", record.collection_id))))
    g.add((item, PROV.wasInfluencedBy, URIRef(decision_iri(record.decision.decision_id))))
    for pf in record.public_files:
        g.add((item, PROV.wasDerivedFrom, URIRef(public_entity_iri(pf.relpath, pf.sha256))))
    if version > 1:
        prev = URIRef(stac_item_iri(record.collection_id, record.item_id, version - 1))
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
    """The latest decision entry of the ledger for ``spec``: a run id, ``aoi|day`` or
    ``<asset key>@aoi|day`` (publish and withdraw entries are not decisions)."""
    from kfm_gate.layout import Layout
    from kfm_gate.provenance.ledger import Ledger

    asset, _, part = spec.rpartition("@")
    path = Layout(root).ledger_path
    entries = Ledger(path).entries()
    match = [
        e
        for e in entries
        if e.get("kind", "decision") == "decision"
        and (
            e.get("run_id") == spec
            or (e.get("partition") == part and (not asset or e.get("asset_key") == asset))
        )
    ]
    if not match:
        raise InputError(
            f"no recorded run for {spec!r} in {path}; give a run id, "
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

    from kfm_gate.layout import Layout
    from kfm_gate.runs import RunStore

    store = RunStore(Layout(root))
    summaries = []
    runs = []
    for spec in (a, b):
        entry = resolve_partition(root, spec)
        record = store.latest(str(entry["run_id"]))
        if record is None:
            raise RecordError(f"run {entry['run_id']} of {spec!r} has no record under {store.base}")
        prov_path = record.file("prov.ttl")
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
