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
from collections.abc import Iterable, Mapping
from typing import Any

from kfm_gate.errors import RecordError

#: a graph, or any iterable of (subject, predicate, object) rdflib terms
Triples = Iterable[tuple[Any, Any, Any]]

_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_LOCAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _index(g: Triples) -> dict[Any, dict[Any, list[Any]]]:
    from rdflib import BNode

    subjects: dict[Any, dict[Any, list[Any]]] = {}
    for s, p, o in g:
        if isinstance(s, BNode) or isinstance(o, BNode):
            raise RecordError(
                "kfm-gate records never contain blank nodes; give every node an IRI "
                f"(found one in triple {s} {p} {o})"
            )
        subjects.setdefault(s, {}).setdefault(p, []).append(o)
    return subjects


def _qname(iri: str, prefixes: list[tuple[str, str]]) -> str | None:
    for prefix, ns in prefixes:
        if iri.startswith(ns):
            local = iri[len(ns) :]
            if _LOCAL.match(local):
                return f"{prefix}:{local}"
    return None


def to_turtle(g: Triples, prefixes: Mapping[str, str]) -> bytes:
    """Turtle of ``g``: used prefixes, subjects in order, ``a`` first, objects sorted."""
    from rdflib import Literal, URIRef

    # longest namespace first, so that 'kfmid:' never shadows a more specific one
    ordered = sorted(prefixes.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    used: set[str] = set()

    def term(t: Any) -> str:
        if isinstance(t, URIRef):
            q = _qname(str(t), ordered)
            if q is not None:
                used.add(q.split(":", 1)[0])
                return q
            return f"<{t}>"
        if isinstance(t, Literal):
            if t.datatype is not None and str(t.datatype) != _XSD_STRING:
                lex = Literal(str(t)).n3()
                q = _qname(str(t.datatype), ordered)
                if q is not None:
                    used.add(q.split(":", 1)[0])
                    return f"{lex}^^{q}"
                return f"{lex}^^<{t.datatype}>"
            return str(t.n3())
        return str(t.n3())

    blocks = []
    index = _index(g)
    for s in sorted(index, key=str):
        preds = index[s]
        lines = []
        for p in sorted(preds, key=lambda x: (str(x) != _RDF_TYPE, str(x))):
            objs = sorted(preds[p], key=lambda o: o.n3())
            pname = "a" if str(p) == _RDF_TYPE else term(p)
            lines.append(f"    {pname} " + ",\n        ".join(term(o) for o in objs))
        blocks.append(term(s) + "\n" + " ;\n".join(lines) + " .\n")
    head = "".join(f"@prefix {p}: <{prefixes[p]}> .\n" for p in sorted(used))
    return (head + "\n" + "\n".join(blocks)).encode("utf-8")


def to_jsonld(g: Triples, prefixes: Mapping[str, str]) -> bytes:
    """Compact-ish JSON-LD: ``@context`` of the prefixes, one node per subject, values sorted."""
    from rdflib import Literal, URIRef

    ordered = sorted(prefixes.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    def iri(t: Any) -> str:
        return _qname(str(t), ordered) or str(t)

    def value(o: Any) -> Any:
        if isinstance(o, URIRef):
            return {"@id": iri(o)}
        assert isinstance(o, Literal)
        if o.language:
            return {"@value": str(o), "@language": o.language}
        if o.datatype is not None and str(o.datatype) != _XSD_STRING:
            return {"@value": str(o), "@type": iri(o.datatype)}
        return str(o)

    nodes = []
    index = _index(g)
    for s in sorted(index, key=str):
        node: dict[str, Any] = {"@id": iri(s)}
        for p, objs in index[s].items():
            if str(p) == _RDF_TYPE:
                node["@type"] = sorted(iri(o) for o in objs)
            else:
                vals = [value(o) for o in objs]
                node[iri(p)] = sorted(vals, key=lambda v: json.dumps(v, sort_keys=True))
        nodes.append(node)
    doc = {"@context": dict(sorted(prefixes.items())), "@graph": nodes}
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


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
    for s, p, o in triples:
        if isinstance(s, BNode) or isinstance(o, BNode):
            raise RecordError(
                "kfm-gate records never contain blank nodes; give every node an IRI "
                f"(found one in triple {s} {p} {o})"
            )
        obj = _nt_literal(o) if isinstance(o, Literal) else o.n3()
        out.add(f"{s.n3()} {p.n3()} {obj} .".encode())
    return out
