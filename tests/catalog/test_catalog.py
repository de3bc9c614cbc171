"""STAC, DCAT and the lineage graph of promoted partitions."""

from __future__ import annotations

import json
from pathlib import Path

import pyshacl
import pytest
from rdflib import Graph

from kfm_gate.catalog import diff_partitions, lineage_walk, validate_stac
from kfm_gate.catalog.dcat import build_dcat_graph
from kfm_gate.catalog.graph import RdfGraphSink
from kfm_gate.catalog.stac import stac_validator_schema_map, validate_stac_pystac
from kfm_gate.samples import sample_draft, sample_record
from tests.helpers import record_and_publish

SHARED = Path(__file__).resolve().parents[3] / "shared" / "specs"
SPECS = SHARED if SHARED.exists() else Path(__file__).resolve().parents[2] / "kfm_gate" / "specs"
#: a precise site coordinate of the candidate that must never be published
PRECISE = (-95.2361847, 38.9717233)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    record_and_publish(sample_draft("allow", day="2026-11-01"), tmp_path)
    record_and_publish(sample_draft("allow", aoi="ks-county-20177", day="2026-11-03"), tmp_path)
    record_and_publish(sample_draft("deny", day="2026-11-02"), tmp_path)
    return tmp_path


def _stac_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in (root / "data" / "stac").rglob("*.json")
        if p.name in ("item.json", "collection.json")
    )


def test_items_and_collection_validate_offline(catalog: Path) -> None:
    files = _stac_files(catalog)
    assert len(files) == 3
    for path in files:
        doc = json.loads(path.read_text())
        assert validate_stac(doc) == []
        assert validate_stac_pystac(doc) == []


@pytest.mark.filterwarnings("ignore:The 'stac_validator' package has been deprecated")
def test_files_pass_stac_validator(catalog: Path) -> None:
    from stac_validator import stac_validator

    for path in _stac_files(catalog):
        v = stac_validator.StacValidate(str(path), schema_map=stac_validator_schema_map())
        assert v.run(), v.message


def test_item_content(catalog: Path) -> None:
    item_dir = catalog / "data/stac/historic_sites/historic_sites-ks-county-20045-2026-11-01"
    item = json.loads((item_dir / "item.json").read_text())
    assert item["id"] == "historic_sites-ks-county-20045-2026-11-01"
    assert item["properties"]["datetime"] == "2026-11-01T00:00:00Z"
    assert item["geometry"] == {"type": "Point", "coordinates": [-95.25, 38.9]}
    assert item["bbox"] == [-95.25, 38.9, -95.25, 38.9]
    assert item["properties"]["kfm:flags"]["care_class"] == "sacred"
    assert item["properties"]["kfm:decision_id"].startswith("decision:kfm-gate:")
    roles = {r for a in item["assets"].values() for r in a["roles"]}
    assert {"data", "metadata", "provenance", "quality"} <= roles
    for asset in item["assets"].values():
        assert asset["file:checksum"].startswith("1220") and len(asset["file:checksum"]) == 68
        if asset["href"].startswith("./"):
            import hashlib

            data = (item_dir / asset["href"][2:]).read_bytes()
            assert asset["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
            assert asset["file:size"] == len(data)
    coll = json.loads((catalog / "data/stac/historic_sites/collection.json").read_text())
    assert coll["extent"]["temporal"]["interval"] == [
        ["2026-11-01T00:00:00Z", "2026-11-03T23:59:59Z"]
    ]
    assert len([lk for lk in coll["links"] if lk["rel"] == "item"]) == 2


def test_no_precise_geometry_anywhere(tmp_path: Path) -> None:
    record = sample_record("allow")
    record_and_publish(sample_draft("allow"), tmp_path)
    needles = [repr(c).encode() for c in PRECISE] + [b"9.2361847", b"8.9717233"]
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
    item = json.loads(next((tmp_path / "data").rglob("item.json")).read_text())
    assert item["geometry"] == record.published_geometry


def test_corrected_source_makes_a_new_version(tmp_path: Path) -> None:
    v1 = sample_draft("allow")
    record_and_publish(v1, tmp_path)
    v2 = sample_draft("allow", source_sha="sha256:" + "f" * 64)
    result = record_and_publish(v2, tmp_path)
    assert result.state.item_version == 2
    item_dir = tmp_path / "data/stac/historic_sites/historic_sites-ks-county-20045-2026-11-01"
    new = json.loads((item_dir / "item.json").read_text())
    old = json.loads((item_dir / "v1" / "item.json").read_text())
    assert new["properties"]["version"] == "2" and old["properties"]["deprecated"] is True
    rels = {lk["rel"]: lk["href"] for lk in new["links"]}
    assert rels["predecessor-version"] == "./v1/item.json"
    old_rels = {lk["rel"]: lk["href"] for lk in old["links"]}
    assert old_rels["latest-version"] == "../item.json"
    assert validate_stac(new) == [] and validate_stac(old) == []
    assert (item_dir / "v1" / "prov.ttl").exists()
    # re-running version 2 changes nothing
    before = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    record_and_publish(v2, tmp_path)
    after = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert before == after


def test_dcat_validates_with_dcat_ap_shapes(catalog: Path) -> None:
    g = Graph().parse(catalog / "data/stac/historic_sites/dcat.ttl", format="turtle")
    shapes = Graph().parse(SPECS / "dcat-ap" / "shapes.ttl")
    shapes += Graph().parse(SPECS / "dcat-ap" / "range.ttl")
    conforms, _, text = pyshacl.validate(g, shacl_graph=shapes)
    assert conforms, text
    coll = json.loads((catalog / "data/stac/historic_sites/collection.json").read_text())
    q = """PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX dct: <http://purl.org/dc/terms/>
    SELECT ?s ?e ?b WHERE { ?d a dcat:Dataset ; dct:temporal ?t ; dct:spatial ?l .
      ?t dcat:startDate ?s ; dcat:endDate ?e . ?l dcat:bbox ?b }"""
    ((start, end, bbox),) = list(g.query(q))
    interval = coll["extent"]["temporal"]["interval"][0]
    assert (str(start), str(end)) == (interval[0][:10], interval[1][:10])
    w, s, e, n = coll["extent"]["spatial"]["bbox"][0]
    assert f"{w!r} {s!r}" in str(bbox) and f"{e!r} {n!r}" in str(bbox)
    assert (
        len(
            list(
                g.query(
                    "PREFIX dcat: <http://www.w3.org/ns/dcat#> "
                    "SELECT ?x WHERE { ?x a dcat:Distribution }"
                )
            )
        )
        == 3
    )


def test_dcat_shapes_catch_a_missing_title() -> None:
    coll = {"id": "x", "description": "d", "links": [], "extent": {}, "kfm:licenses": []}
    g = build_dcat_graph(coll)
    from rdflib.namespace import DCTERMS

    for t in list(g.triples((None, DCTERMS.description, None))):
        g.remove(t)
    shapes = Graph().parse(SPECS / "dcat-ap" / "shapes.ttl")
    conforms, _, _ = pyshacl.validate(g, shacl_graph=shapes)
    assert not conforms


def test_graph_merge_is_idempotent(catalog: Path) -> None:
    sink = RdfGraphSink(catalog)
    files = {p: p.read_bytes() for p in sink.files()}
    before = sink.read_bytes()
    g = sink.graph()
    assert sink.merge([g]) == 0
    assert {p: p.read_bytes() for p in sink.files()} == files
    assert sink.read_bytes() == before
    lines = before.split(b"\n")[:-1]
    assert lines == sorted(set(lines))
    assert b"_:" not in before


def test_lineage_walks_back_to_sources_and_processes(catalog: Path) -> None:
    report = lineage_walk("historic_sites-ks-county-20045-2026-11-01", root=catalog)
    assert report.start
    assert any("/input/src:kshs_sites/" in s for s in report.sources)
    kinds = {p.split("/id/activity/")[1].split("/")[0] for p in report.processes}
    assert {"gate", "materialize", "mask", "redact"} <= kinds
    assert "kshs_sites" in report.render_text()
    assert lineage_walk("nope", root=catalog).exit_code == 1


def test_diff_shows_outcome_rules_and_evidence(catalog: Path) -> None:
    diff = diff_partitions(catalog, "ks-county-20045|2026-11-01", "ks-county-20045|2026-11-02")
    keys = {k for k, _, _ in diff.changes}
    assert "outcome" in keys and "rules.violated" in keys
    assert "evidence.pii.counts_by_type.EMAIL_ADDRESS" in keys
    changes = {k: (a, b) for k, a, b in diff.changes}
    assert changes["outcome"] == ("allow", "deny")
    assert "allow -> deny" in diff.render_text()
    other = diff_partitions(catalog, "ks-county-20045|2026-11-01", "ks-county-20177|2026-11-03")
    assert {k for k, _, _ in other.changes} <= {
        "checksum.public.sites.csv",
        "checksum.public.sites.geojson",
    } or other.changes


def test_rerun_leaves_catalog_dcat_and_graph_identical(catalog: Path) -> None:
    snap = {p: p.read_bytes() for p in (catalog / "data").rglob("*") if p.is_file()}
    record_and_publish(sample_draft("allow", day="2026-11-01"), catalog)
    record_and_publish(sample_draft("allow", aoi="ks-county-20177", day="2026-11-03"), catalog)
    assert snap == {p: p.read_bytes() for p in (catalog / "data").rglob("*") if p.is_file()}


def test_commands(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kfm_gate.catalog.commands import run_diff, run_ledger_verify, run_lineage

    assert run_ledger_verify(catalog) == 0
    assert "OK, 5 entries" in capsys.readouterr().out  # 3 decisions, 2 publications
    assert run_lineage(catalog, "historic_sites-ks-county-20045-2026-11-01", as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["sources"]
    assert run_diff(catalog, "ks-county-20045|2026-11-01", "ks-county-20045|2026-11-02") == 0
    assert "outcome: allow -> deny" in capsys.readouterr().out
    assert run_diff(catalog, "ks-county-20045|1999-01-01", "ks-county-20045|2026-11-02") == 2
    ledger = catalog / "mcp" / "ledger.jsonl"
    ledger.write_bytes(ledger.read_bytes().replace(b'"deny"', b'"allow"'))
    assert run_ledger_verify(catalog) == 1
    assert "line 5 (seq 5): edited" in capsys.readouterr().out


def test_graph_store_segments_merge_and_compact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publications add sorted segments of new lines only; read back, the store holds exactly
    what one file rewritten at every publication holds, and re-runs give the same files."""
    import kfm_gate.catalog.graph as graph_mod

    days = [f"2026-03-{d:02d}" for d in range(1, 13)]
    roots = {}
    for name, limit in (("seg", graph_mod.MAX_SEGMENTS), ("again", None), ("one", 0)):
        if limit is not None:
            monkeypatch.setattr(graph_mod, "MAX_SEGMENTS", limit)
        root = tmp_path / name
        for day in days:
            record_and_publish(sample_draft("allow", day=day), root)
        roots[name] = root
    fwd, one = RdfGraphSink(roots["seg"]), RdfGraphSink(roots["one"])
    assert one.files() == [one.path]  # max 0 segments: the whole store rewritten every time
    assert fwd.read_bytes() == one.path.read_bytes()
    again = RdfGraphSink(roots["again"])
    assert [p.read_bytes() for p in again.files()] == [p.read_bytes() for p in fwd.files()]
    monkeypatch.setattr(graph_mod, "MAX_SEGMENTS", 32)
    for sink in [fwd]:
        assert len(sink.files()) >= 2  # a base and at least one segment
        seen: set[bytes] = set()
        for path in sink.files():
            lines = path.read_bytes().split(b"\n")[:-1]
            assert lines == sorted(set(lines))
            assert not seen & set(lines)  # every line lives in one file only
            seen |= set(lines)
    # the store holds what one rdflib graph of every record would hold
    g = fwd.graph()
    for day in days:
        decision = sample_record("allow", day=day).decision.decision_id
        assert fwd.mentions(decision)
        assert lineage_walk(decision, graph=g).start
    # a compaction (max_segments=1) keeps the union and leaves only the base
    from kfm_gate.provenance.prov import build_prov_graph

    small = RdfGraphSink(roots["seg"], max_segments=1)
    before = set(small.read_bytes().split(b"\n"))
    extra = build_prov_graph(sample_record("allow", day="2026-04-01"))
    update = small.plan_update([extra])
    assert list(update.writes) == [small.path] and set(update.removes) == set(fwd.files()[1:])
    assert small.merge([extra]) == update.added > 0
    assert small.files() == [small.path]
    after = small.read_bytes()
    assert before <= set(after.split(b"\n")) and after == small.path.read_bytes()
    assert small.merge([extra]) == 0 and small.files() == [small.path]


def test_nt_lines_match_rdflib_serializer(catalog: Path) -> None:
    from kfm_gate.provenance.prov import build_prov_graph
    from kfm_gate.provenance.rdfwrite import nt_lines

    g = build_prov_graph(sample_record("allow"))
    g += RdfGraphSink(catalog).graph()
    from rdflib import Literal, URIRef

    g.add(
        (
            URIRef("https://kfm.example/id/x"),
            URIRef("https://kfm.example/ns/kfm#t"),
            Literal('a "quoted"\\ line\nwith\r breaks é'),
        )
    )
    g.add(
        (
            URIRef("https://kfm.example/id/x"),
            URIRef("https://kfm.example/ns/kfm#t"),
            Literal("fr", lang="fr"),
        )
    )
    expected = {x for x in g.serialize(format="nt", encoding="utf-8").split(b"\n") if x}
    assert nt_lines(g) == expected


def test_memoized_validation_still_reports_every_invalid_link(catalog: Path) -> None:
    coll = json.loads((catalog / "data/stac/historic_sites/collection.json").read_text())
    assert validate_stac(coll) == []  # every link now known valid
    bad = json.loads(json.dumps(coll))
    bad["links"][1]["href"] = 7
    bad["links"].append({"rel": "item"})
    errors = validate_stac(bad)
    assert any("links/1/href" in e for e in errors), errors
    assert any("links/3" in e and "'href' is a required property" in e for e in errors), errors
    assert validate_stac(bad) == errors  # invalid elements are never remembered
    assert validate_stac(coll) == []
