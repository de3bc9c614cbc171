"""The shortcuts that keep recording and publishing fast give exactly what the plain ways give."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

from kfm_gate.errors import PathError, RecordError
from kfm_gate.journal import Transaction, recover
from kfm_gate.layout import PUBLISH_LOCK, FaultCheckpoints, Layout
from kfm_gate.provenance import Ledger
from kfm_gate.provenance.ledger import entry_from_decision, receipt_bytes
from kfm_gate.provenance.prov import PREFIXES, build_prov_graph, prov_triples
from kfm_gate.provenance.rdfwrite import nt_lines, to_jsonld, to_turtle
from kfm_gate.publication import Publisher
from kfm_gate.samples import sample_draft, sample_record
from tests.helpers import (
    assert_recorded_unpublished,
    random_place,
    record_and_publish,
    record_draft,
)


@pytest.mark.parametrize("outcome", ["allow", "deny", "quarantine", "error"])
def test_prov_triples_are_the_graph(outcome: str) -> None:
    record = sample_record(outcome)
    triples = prov_triples(record)
    assert len(triples) == len(set(triples))
    graph = build_prov_graph(record)
    assert set(graph) == set(triples)
    # the writers give the same bytes for the list and for the graph
    assert to_turtle(triples, PREFIXES) == to_turtle(graph, PREFIXES)
    assert to_jsonld(triples, PREFIXES) == to_jsonld(graph, PREFIXES)


def test_term_caches_keep_language_tags_apart() -> None:
    """rdflib compares language tags case-insensitively; the cached texts never mix them."""
    s, p = URIRef("https://kfm.example/id/x"), URIRef("https://kfm.example/ns/kfm#t")
    for _ in range(2):  # the second round reads the caches
        g = Graph()
        g.add((s, p, Literal("a", lang="en")))
        g.add((s, p, Literal("b", lang="EN")))
        lines = nt_lines(g)
        assert lines == {x for x in g.serialize(format="nt", encoding="utf-8").split(b"\n") if x}
        ttl = to_turtle(g, PREFIXES)
        assert b'"a"@en' in ttl and b'"b"@EN' in ttl
        assert isomorphic(g, Graph().parse(data=ttl.decode(), format="turtle"))


def _presence_brute(base: list[bytes], lines: list[bytes]) -> dict[bytes, bool]:
    return {line: line in set(base) for line in lines}


@settings(max_examples=300, deadline=None)
@given(
    base=st.lists(st.binary(min_size=1, max_size=3).filter(lambda b: b"\n" not in b)),
    queries=st.lists(st.binary(min_size=1, max_size=3).filter(lambda b: b"\n" not in b)),
    final_newline=st.booleans(),
)
def test_presence_search_matches_a_set(
    base: list[bytes], queries: list[bytes], final_newline: bool
) -> None:
    from kfm_gate.catalog.graph import _presence_sorted

    lines = sorted(set(base))
    buf = b"".join(line + b"\n" for line in lines)
    if buf and not final_newline:
        buf = buf[:-1]
    wanted = sorted(set(queries) | set(lines[::2]))
    assert _presence_sorted(buf, wanted) == _presence_brute(lines, wanted)


def test_graph_caches_follow_replaced_files(tmp_path: Path) -> None:
    """Cached segment lines and base lookups are dropped when a file is replaced."""
    from kfm_gate.catalog.graph import RdfGraphSink

    sink = RdfGraphSink(tmp_path)
    record = sample_record("allow")
    lines = sorted(nt_lines(prov_triples(record)))
    base, rest = lines[: len(lines) // 2], lines[len(lines) // 2 :]
    sink.path.parent.mkdir(parents=True)
    sink.path.write_bytes(b"".join(line + b"\n" for line in base))
    assert sink.plan_update([prov_triples(record)]).added == len(rest)
    assert sink.plan_update([prov_triples(record)]).added == len(rest)  # from the memo
    tmp = sink.path.with_name("new.nt")
    tmp.write_bytes(b"".join(line + b"\n" for line in lines))
    tmp.replace(sink.path)
    assert sink.plan_update([prov_triples(record)]).added == 0
    seg = sink.segment_dir / "x.nt"
    seg.parent.mkdir()
    seg.write_bytes(b"")
    tmp.write_bytes(b"".join(line + b"\n" for line in lines))
    sink.path.unlink()
    assert sink.plan_update([prov_triples(record)]).added == len(lines)
    tmp.replace(seg)  # the segment now holds every line
    assert sink.plan_update([prov_triples(record)]).added == 0


def test_validation_shortcuts_report_what_jsonschema_reports(tmp_path: Path) -> None:
    """Memoized values and the shared resolver: the same errors as the plain validators."""
    import copy
    import random

    import kfm_gate.catalog.stac as stac

    for day in ("2026-11-01", "2026-11-02"):
        record_and_publish(sample_draft("allow", day=day), tmp_path)
    docs = [
        json.loads(p.read_text())
        for p in sorted((tmp_path / "data" / "stac").rglob("*.json"))
        if p.name in ("item.json", "collection.json")
    ]
    rng = random.Random(5)
    mutated = []
    for _ in range(120):
        doc = copy.deepcopy(rng.choice(docs))
        parent, key = random_place(doc, rng, 0.8)
        if parent is not None:
            parent[key] = rng.choice([7, "x", None, [], {}, True, 1.5, [1, 2], {"a": 1}])
        mutated.append(doc)

    def check(doc: dict[str, object]) -> object:
        try:
            return stac.validate_stac(doc)
        except TypeError as err:  # e.g. 'stac_extensions' replaced by a number
            return repr(err)

    fast = [check(d) for d in docs + mutated + mutated]
    saved = stac._MEMO_KEYWORDS
    stac._MEMO_KEYWORDS = ()  # jsonschema's plain keywords
    stac._schema_validators.cache_clear()
    try:
        plain = [check(d) for d in docs + mutated + mutated]
    finally:
        stac._MEMO_KEYWORDS = saved
        stac._schema_validators.cache_clear()
    assert fast == plain
    assert sum(bool(e) for e in plain) > 60


def test_staged_writes_refuse_a_link_out_of_the_roots(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    stac_dir = tmp_path / "data" / "stac"
    stac_dir.mkdir(parents=True)
    (stac_dir / "escape.json").symlink_to(outside / "x.json")
    txn = Transaction(Layout(tmp_path))
    txn.put(stac_dir / "fine.json", b"1")  # the folder is resolved once ...
    with pytest.raises(PathError, match="outside"):
        txn.put(stac_dir / "escape.json", b"2")  # ... and a link in it still followed
    with pytest.raises(PathError):
        txn.put(tmp_path / "README.md", b"3")


def test_a_transaction_stopped_before_its_commit_point_leaves_nothing(tmp_path: Path) -> None:
    """Disk full while staging: nothing visible; the next transaction (or recover) empties
    the staging area."""
    layout = Layout(tmp_path, checkpoints=FaultCheckpoints("enospc", "commit mcp/.journal.json"))
    txn = Transaction(layout)
    txn.put(tmp_path / "data" / "stac" / "a.json", b"a")
    with pytest.raises(RecordError, match="nothing was written"):
        txn.commit()
    recover(Layout(tmp_path))
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [
        PUBLISH_LOCK  # the publication lock stays, empty
    ]


def test_ledger_receipt_is_written_with_the_entry(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "mcp" / "ledger.jsonl")
    receipt = tmp_path / "mcp" / "runs" / "r" / "ledger-entry.json"
    d = sample_record("allow").decision.to_json_dict()
    from kfm_gate.ids import digest

    pending: list[Path] = []
    stored = ledger.append(
        entry_from_decision(d, decision_digest=digest(d)), receipt=receipt, defer_dirs=pending
    )
    assert receipt.read_bytes() == receipt_bytes(stored)
    assert json.loads(receipt.read_text())["hash"] == stored["hash"]
    assert {p.name for p in pending} == {"mcp", "r"}
    assert ledger.verify().ok


def test_ledger_append_failure_replaces_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path / "mcp" / "ledger.jsonl")
    d = sample_record("allow").decision.to_json_dict()
    from kfm_gate.ids import digest

    entry = entry_from_decision(d, decision_digest=digest(d))
    ledger.append(entry)
    head = ledger.head_path.read_bytes()

    def broken(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken)
    receipt = tmp_path / "mcp" / "runs" / "r" / "ledger-entry.json"
    with pytest.raises(RecordError):
        ledger.append(entry, receipt=receipt)
    assert ledger.head_path.read_bytes() == head  # neither head nor receipt was replaced
    assert not receipt.exists()
    assert not [p for p in (tmp_path / "mcp").rglob("*.tmp")]


def test_an_invalid_stac_item_publishes_nothing_and_keeps_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid STAC item is found before anything is written: the run's records and its
    ledger entry (written by the gate) stay, and nothing is published."""
    import kfm_gate.catalog.stac as stac

    monkeypatch.setattr(stac, "validate_stac", lambda doc: ["broken on purpose"])
    draft = sample_draft("allow")
    record_draft(draft, tmp_path)
    with pytest.raises(RecordError, match="broken on purpose"):
        assert draft.request is not None
        Publisher(Layout(tmp_path)).publish(draft.request, draft.decision.run_id)
    assert_recorded_unpublished(tmp_path, sample_record("allow").folder)
    assert not (tmp_path / "data").exists()


def test_turtle_blocks_from_the_memo_are_the_blocks_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Subject blocks are remembered per process: a warm writer gives the bytes of a cold one,
    and a changed object (or a language tag, never looked up) is never served stale."""
    import kfm_gate.provenance.rdfwrite as rdfwrite

    s = URIRef("https://kfm.example/id/dataset/x")
    p = URIRef("http://purl.org/dc/terms/title")
    prefixes = {"dct": "http://purl.org/dc/terms/", "kfmid": "https://kfm.example/id/"}
    graphs = [
        [(s, p, Literal("one"))],
        [(s, p, Literal("two"))],
        [(s, p, Literal("tag", lang="en"))],
        [(s, p, Literal("tag", lang="EN"))],
        [(s, p, Literal("one")), (s, p, Literal("two"))],
    ]
    monkeypatch.setattr(rdfwrite, "_BLOCKS", {})
    warm = [to_turtle(g, prefixes) for g in graphs + graphs]
    cold = []
    for g in graphs + graphs:
        rdfwrite._BLOCKS.clear()
        rdfwrite._TURTLE.clear()
        cold.append(to_turtle(g, prefixes))
    assert warm == cold
    assert len(set(warm[:5])) == 5
    assert b"@en" in warm[2] and b"@EN" in warm[3]
    for data, g in zip(warm[:5], graphs, strict=True):
        assert isomorphic(Graph().parse(data=data, format="turtle"), _graph(g))


def _graph(triples: list[tuple[URIRef, URIRef, Literal]]) -> Graph:
    g = Graph()
    for t in triples:
        g.add(t)
    return g


def test_the_graph_gets_the_dcat_record_of_every_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publication feeds the lineage graph its own item's distribution only, or every
    distribution when the collection's licences change (each distribution lists them); the
    store ends up byte-identical to feeding every publication's whole DCAT record."""
    import dataclasses

    import kfm_gate.catalog.dcat as dcat
    from kfm_gate.catalog.graph import RdfGraphSink

    days = ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-01")  # the last: a re-run

    def publish(root: Path) -> bytes:
        for n, day in enumerate(days):
            draft = sample_draft("allow", day=day)
            if n == 2:  # a second licence joins the collection
                assert draft.flags is not None
                flags = draft.flags.model_copy(update={"licenses": ("CC-BY-4.0", "CC0-1.0")})
                phase1 = {**draft.policy_inputs["obligations"], "flags": flags.to_json_dict()}
                draft = dataclasses.replace(
                    draft, flags=flags, policy_inputs={"obligations": phase1}
                )
            record_and_publish(draft, root)
        return RdfGraphSink(root).read_bytes()

    delta = publish(tmp_path / "delta")
    whole = dcat.dcat_triples

    def every_item(collection: object, **kw: object) -> object:
        kw.pop("items", None)
        return whole(collection, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(dcat, "dcat_triples", every_item)
    assert publish(tmp_path / "whole") == delta
    for day in days[:3]:
        assert f"distribution/historic_sites-ks-county-20045-{day}>".encode() in delta
    first = b"distribution/historic_sites-ks-county-20045-2026-03-01> <http://purl.org/dc/terms/license> <http://spdx.org/licenses/CC0-1.0>"
    assert first in delta  # an earlier item's distribution got the new licence


def test_the_memos_keep_only_the_most_recently_used_and_stay_correct(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long-lived process records runs whose subjects never repeat: the memos stay within
    their capacity (flat memory), keep what every run uses, and never change the bytes."""
    import kfm_gate.provenance.rdfwrite as rdfwrite

    memo = rdfwrite.LruMemo(3)
    for k in "abc":
        memo[k] = k.upper()
    assert memo.get("a") == "A"  # used: now the most recent
    memo["d"] = "D"
    assert list(memo) == ["c", "a", "d"] and memo.get("b") is None
    monkeypatch.setattr(rdfwrite, "_BLOCKS", {})
    monkeypatch.setattr(rdfwrite, "_TURTLE", {})
    monkeypatch.setattr(rdfwrite, "BLOCK_MEMO", 4)
    monkeypatch.setattr(rdfwrite, "TERM_MEMO", 8)
    p = URIRef("http://purl.org/dc/terms/title")
    prefixes = {"dct": "http://purl.org/dc/terms/", "kfmid": "https://kfm.example/id/"}
    shared = (URIRef("https://kfm.example/id/agent/kfm-gate"), p, Literal("kfm-gate"))
    for i in range(50):
        run = (URIRef(f"https://kfm.example/id/run/{i}"), p, Literal(f"run {i}"))
        warm = to_turtle([shared, run], prefixes)
        assert all(len(m) <= 4 for m in rdfwrite._BLOCKS.values())
        assert all(len(m) <= 8 for m in rdfwrite._TURTLE.values())
        saved = dict(rdfwrite._BLOCKS), dict(rdfwrite._TURTLE)
        rdfwrite._BLOCKS.clear()
        rdfwrite._TURTLE.clear()
        assert to_turtle([shared, run], prefixes) == warm
        rdfwrite._BLOCKS.update(saved[0])
        rdfwrite._TURTLE.update(saved[1])
