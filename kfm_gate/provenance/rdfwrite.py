"""Deterministic Turtle and JSON-LD writers for kfm-gate's graphs (no blank nodes).

rdflib's own writers are correct but slow (Turtle: ~5 ms for a 150-triple record, mostly
prefix computation) and its JSON-LD order follows the store's hash-seeded iteration. These
writers sort subjects, predicates and objects by their N-Triples form, so the bytes depend on
the triples only; tests parse the output back with rdflib and check it is isomorphic to the
graph. Terms are written with rdflib's own ``n3()`` escaping.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from kfm_gate.errors import RecordError

#: a graph, or any iterable of (subject, predicate, object) rdflib terms
Triples = Iterable[tuple[Any, Any, Any]]

_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_LOCAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class LruMemo(OrderedDict[Any, Any]):
    """A memo of pure results that keeps the ``capacity`` most recently used: terms and
    blocks shared by every record (agents, plans, predicates, a collection's items) stay,
    while those of one run only are dropped as later runs come, so a long-lived process
    keeps a flat memory however many runs it records."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        self.move_to_end(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > self.capacity:
            self.popitem(last=False)


#: how many term texts and Turtle blocks a process remembers (per set of prefixes)
TERM_MEMO = 16_384
BLOCK_MEMO = 4_096
_N3: LruMemo = LruMemo(TERM_MEMO)
_NT: LruMemo = LruMemo(TERM_MEMO)


def _cacheable(t: Any) -> bool:
    # rdflib compares language tags case-insensitively but writes them as given: a literal
    # with a language is never looked up in a cache keyed by the term
    return getattr(t, "language", None) is None


def n3(t: Any) -> str:
    """``t.n3()`` (rdflib's escaping), memoized per process."""
    if not _cacheable(t):
        return str(t.n3())
    text = _N3.get(t)
    if text is None:
        text = str(t.n3())
        _N3[t] = text
    return text


def _index(g: Triples) -> dict[Any, dict[Any, list[Any]]]:
    from rdflib import BNode

    subjects: dict[Any, dict[Any, list[Any]]] = {}
    for s, p, o in g:
        if isinstance(s, BNode) or isinstance(o, BNode):
            raise RecordError(
                "kfm-gate records never contain blank nodes; give every node an IRI "
                f"(found one in triple {s} {p} {o})"
            )
        preds = subjects.get(s)
        if preds is None:
            preds = subjects[s] = {}
        objs = preds.get(p)
        if objs is None:
            preds[p] = [o]
        else:
            objs.append(o)
    return subjects


def _qname(iri: str, prefixes: list[tuple[str, str]]) -> str | None:
    for prefix, ns in prefixes:
        if iri.startswith(ns):
            local = iri[len(ns) :]
            if _LOCAL.match(local):
                return f"{prefix}:{local}"
    return None


def _ordered(prefixes: Mapping[str, str]) -> list[tuple[str, str]]:
    # longest namespace first, so that 'kfmid:' never shadows a more specific one
    return sorted(prefixes.items(), key=lambda kv: (-len(kv[1]), kv[0]))


#: per set of prefixes: term -> (its Turtle text, the prefix it uses or "")
_TURTLE: dict[tuple[tuple[str, str], ...], LruMemo] = {}
#: per set of prefixes: (subject, (predicate, objects...)...) -> (its Turtle block, the
#: prefixes it uses); a block is a pure function of its subject's triples (in index order).
#: The records of one collection share most of their blocks from one publication to the next
#: (the DCAT record lists every item), so these are written once per process.
_BLOCKS: dict[tuple[tuple[str, str], ...], LruMemo] = {}


def _memo_for(memos: dict[Any, LruMemo], ordered: list[tuple[str, str]], capacity: int) -> LruMemo:
    """The memo in ``memos`` for these prefixes (what is remembered depends on them only),
    kept per process, holding the ``capacity`` most recently used entries."""
    key = tuple(ordered)
    memo = memos.get(key)
    if memo is None:
        if len(memos) >= 16:
            memos.clear()
        memo = memos[key] = LruMemo(capacity)
    return memo


def to_turtle(g: Triples, prefixes: Mapping[str, str]) -> bytes:
    """Turtle of ``g``: used prefixes, subjects in order, ``a`` first, objects sorted."""
    from rdflib import Literal, URIRef

    ordered = _ordered(prefixes)
    used: set[str] = set()
    memo = _memo_for(_TURTLE, ordered, TERM_MEMO)

    def compute(t: Any) -> tuple[str, str]:
        if isinstance(t, URIRef):
            q = _qname(str(t), ordered)
            if q is not None:
                return q, q.split(":", 1)[0]
            return f"<{t}>", ""
        if isinstance(t, Literal):
            if t.datatype is not None and str(t.datatype) != _XSD_STRING:
                lex = n3(Literal(str(t)))
                q = _qname(str(t.datatype), ordered)
                if q is not None:
                    return f"{lex}^^{q}", q.split(":", 1)[0]
                return f"{lex}^^<{t.datatype}>", ""
            return n3(t), ""
        return str(t.n3()), ""

    def term(t: Any) -> str:
        cacheable = _cacheable(t)
        hit = memo.get(t) if cacheable else None
        if hit is None:
            hit = compute(t)
            if cacheable:
                memo[t] = hit
        if hit[1]:
            used.add(hit[1])
        return hit[0]

    blocks = []
    index = _index(g)
    block_memo = _memo_for(_BLOCKS, ordered, BLOCK_MEMO)
    for s in sorted(index, key=str):
        preds = index[s]
        key: tuple[Any, ...] | None = (s, *((p, *objs) for p, objs in preds.items()))
        if not all(_cacheable(o) for objs in preds.values() for o in objs):
            key = None  # a language-tagged literal: its text is not looked up by the term
        hit = block_memo.get(key) if key is not None else None
        if hit is not None:
            blocks.append(hit[0])
            used.update(hit[1])
            continue
        before = set(used)
        used.clear()
        lines = []
        for p in sorted(preds, key=lambda x: (str(x) != _RDF_TYPE, str(x))):
            objs = preds[p]
            if len(objs) > 1:
                objs = sorted(objs, key=n3)
            pname = "a" if str(p) == _RDF_TYPE else term(p)
            lines.append(f"    {pname} " + ",\n        ".join([term(o) for o in objs]))
        block = term(s) + "\n" + " ;\n".join(lines) + " .\n"
        blocks.append(block)
        if key is not None:
            block_memo[key] = (block, frozenset(used))
        used.update(before)
    head = "".join(f"@prefix {p}: <{prefixes[p]}> .\n" for p in sorted(used))
    return (head + "\n" + "\n".join(blocks)).encode("utf-8")


def to_jsonld(g: Triples, prefixes: Mapping[str, str]) -> bytes:
    """Compact-ish JSON-LD: ``@context`` of the prefixes, one node per subject, values sorted."""
    from rdflib import Literal, URIRef

    from kfm_gate.jsonfmt import dumps_indent

    ordered = _ordered(prefixes)
    iris: dict[str, str] = {}

    def iri(t: Any) -> str:  # URIRefs only
        text = iris.get(t)
        if text is None:
            text = iris[t] = _qname(str(t), ordered) or str(t)
        return text

    #: term -> (JSON-LD value, its sort key), for this call
    memo: dict[Any, tuple[Any, str]] = {}

    def value(o: Any) -> tuple[Any, str]:
        cacheable = _cacheable(o)
        hit = memo.get(o) if cacheable else None
        if hit is not None:
            return hit
        v: Any
        if isinstance(o, URIRef):
            v = {"@id": iri(o)}
        else:
            assert isinstance(o, Literal)
            if o.language:
                v = {"@value": str(o), "@language": o.language}
            elif o.datatype is not None and str(o.datatype) != _XSD_STRING:
                v = {"@value": str(o), "@type": iri(o.datatype)}
            else:
                v = str(o)
        hit = (v, json.dumps(v, sort_keys=True))
        if cacheable:
            memo[o] = hit
        return hit

    nodes = []
    index = _index(g)
    for s in sorted(index, key=str):
        node: dict[str, Any] = {"@id": iri(s)}
        for p, objs in index[s].items():
            if str(p) == _RDF_TYPE:
                node["@type"] = sorted(iri(o) for o in objs)
            else:
                vals = [value(o) for o in objs]
                if len(vals) > 1:
                    vals.sort(key=lambda vk: vk[1])
                node[iri(p)] = [v for v, _ in vals]
        nodes.append(node)
    doc = {"@context": dict(sorted(prefixes.items())), "@graph": nodes}
    return (dumps_indent(doc, 1) + "\n").encode("utf-8")


def _nt_literal(lit: Any) -> str:
    text = (
        str(lit).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"').replace("\r", "\\r")
    )
    if lit.language:
        return f'"{text}"@{lit.language}'
    if lit.datatype is not None:
        return f'"{text}"^^<{lit.datatype}>'
    return f'"{text}"'


def nt_lines(triples: Triples) -> set[bytes]:
    """The N-Triples lines (no final newline) of ``triples``, exactly as rdflib writes them.

    rdflib's ``serialize(format="nt")`` builds a whole document; the lineage graph only needs
    the set of lines, so this writes them directly (same escaping; a test compares both).
    """
    from rdflib import BNode, Literal

    out: set[bytes] = set()
    nt = _NT
    for s, p, o in triples:
        if isinstance(s, BNode) or isinstance(o, BNode):
            raise RecordError(
                "kfm-gate records never contain blank nodes; give every node an IRI "
                f"(found one in triple {s} {p} {o})"
            )
        cacheable = _cacheable(o)
        obj = nt.get(o) if cacheable else None
        if obj is None:
            obj = _nt_literal(o) if isinstance(o, Literal) else o.n3()
            if cacheable:
                nt[o] = obj
        out.add(f"{n3(s)} {n3(p)} {obj} .".encode())
    return out
