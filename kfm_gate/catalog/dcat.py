"""DCAT 3 (DCAT-AP 3 shaped) record of each published dataset, derived from its STAC collection.

``data/stac/<collection>/dcat.ttl`` describes the catalog, the dataset (title, description,
publisher, creator, licence, temporal and spatial coverage equal to the STAC collection's
extent) and one distribution per published partition (its STAC item) plus one for the whole
collection. Every node is an IRI, so re-ingesting into the graph changes nothing, and the
record is rebuilt from the collection, so re-running a partition gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kfm_gate.layout import STAC

if TYPE_CHECKING:
    from rdflib import Graph

    from kfm_gate.provenance.rdfwrite import Triples

DCAT_FILE = "dcat.ttl"
DEFAULT_BASE_URL = "https://kfm.example/"
DEFAULT_PUBLISHER = {"name": "Kansas Frontier Matrix", "id": "kansas-frontier-matrix"}
DEFAULT_CREATOR = {"name": "Kansas Frontier Matrix data pipelines", "id": "kfm-pipelines"}
IANA = "https://www.iana.org/assignments/media-types/"
SPDX = "http://spdx.org/licenses/"
GEOSPARQL_WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"


@lru_cache(maxsize=65536)
def _quote(part: str) -> str:
    """One IRI path segment, percent-encoded except ``:`` ``-`` ``.`` ``_`` ``~``."""
    return quote(part, safe=":-._~")


@lru_cache(maxsize=65536)
def _quote_path(path: str) -> str:
    """``urllib.parse.quote`` with its default safe characters (``/``)."""
    return quote(path)


def _cfg(config: Mapping[str, Any]) -> Mapping[str, Any]:
    cat = config.get("catalog", {})
    return cat if isinstance(cat, Mapping) else {}


def bbox_wkt(bbox: list[float]) -> str:
    """A WKT polygon of a [west, south, east, north] bbox (a point when it is degenerate)."""
    w, s, e, n = (repr(float(v)) for v in bbox)
    if w == e and s == n:
        return f"POINT({w} {s})"
    return f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"


def dcat_triples(
    collection: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    stac_prefix: str = STAC,
    items: Collection[str] | None = None,
) -> list[tuple[Any, Any, Any]]:
    """The DCAT triples (rdflib terms, no duplicates) of the dataset behind a STAC collection.

    A plain list, not an rdflib graph: a graph's index costs more than the triples themselves,
    and both writers (Turtle, the lineage graph's N-Triples) only iterate over them.
    ``items``: only the distributions of these STAC items (besides the collection's own);
    what a publication adds to the lineage graph, whose earlier publications hold the others.
    The triples of one item's distribution are remembered per process (a collection's record
    is rebuilt at every publication, and its items do not change).
    """
    from rdflib import Literal, Namespace, URIRef
    from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

    cfg = _cfg(config or {})
    base = str(cfg.get("base_url", DEFAULT_BASE_URL))
    if not base.endswith("/"):
        base += "/"
    publisher_cfg = {**DEFAULT_PUBLISHER, **dict(cfg.get("publisher", {}) or {})}
    creator_cfg = {**DEFAULT_CREATOR, **dict(cfg.get("creator", {}) or {})}
    cid = str(collection["id"])
    kfmid = Namespace(base + "id/")
    seen: set[tuple[Any, Any, Any]] = set()
    out: list[tuple[Any, Any, Any]] = []

    def add(triple: tuple[Any, Any, Any]) -> None:
        if triple not in seen:
            seen.add(triple)
            out.append(triple)

    def iri(*parts: str) -> URIRef:
        return URIRef(kfmid + "/".join(_quote(p) for p in parts))

    catalog = iri("catalog")
    dataset = iri("dataset", cid)
    publisher = iri("agent", str(publisher_cfg["id"]))
    creator = iri("agent", str(creator_cfg["id"]))
    for agent, conf in ((publisher, publisher_cfg), (creator, creator_cfg)):
        add((agent, RDF.type, FOAF.Agent))
        add((agent, FOAF.name, Literal(str(conf["name"]))))

    add((catalog, RDF.type, DCAT.Catalog))
    add((catalog, DCTERMS.title, Literal(str(cfg.get("title", "Kansas Frontier Matrix")))))
    add(
        (
            catalog,
            DCTERMS.description,
            Literal(
                str(
                    cfg.get(
                        "description", "Datasets published through the kfm-gate governance gate."
                    )
                )
            ),
        )
    )
    add((catalog, DCTERMS.publisher, publisher))
    add((catalog, DCAT.dataset, dataset))

    add((dataset, RDF.type, DCAT.Dataset))
    add((dataset, DCTERMS.identifier, Literal(cid)))
    add((dataset, DCTERMS.title, Literal(str(collection.get("title") or cid))))
    add((dataset, DCTERMS.description, Literal(str(collection["description"]))))
    add((dataset, DCTERMS.publisher, publisher))
    add((dataset, DCTERMS.creator, creator))
    if collection.get("updated"):
        add(
            (
                dataset,
                DCTERMS.modified,
                Literal(str(collection["updated"]), datatype=XSD.dateTime),
            )
        )

    extent = collection.get("extent", {})
    interval = (extent.get("temporal", {}).get("interval") or [[None, None]])[0]
    temporal = iri("dataset", cid, "temporal")
    add((temporal, RDF.type, DCTERMS.PeriodOfTime))
    if interval[0]:
        add((temporal, DCAT.startDate, Literal(str(interval[0])[:10], datatype=XSD.date)))
    if interval[1]:
        add((temporal, DCAT.endDate, Literal(str(interval[1])[:10], datatype=XSD.date)))
    add((dataset, DCTERMS.temporal, temporal))
    bbox = (extent.get("spatial", {}).get("bbox") or [[]])[0]
    if len(bbox) == 4:
        spatial = iri("dataset", cid, "spatial")
        add((spatial, RDF.type, DCTERMS.Location))
        add((spatial, DCAT.bbox, Literal(bbox_wkt(bbox), datatype=URIRef(GEOSPARQL_WKT))))
        add((dataset, DCTERMS.spatial, spatial))

    licenses = [str(x) for x in collection.get("kfm:licenses", []) if x not in ("unknown", "")]
    license_nodes = []
    for lic in sorted(licenses):
        node = URIRef(SPDX + quote(lic, safe="-._+"))
        add((node, RDF.type, DCTERMS.LicenseDocument))
        license_nodes.append(node)
    geojson = URIRef(IANA + "application/geo+json")
    json_type = URIRef(IANA + "application/json")
    for mt in (geojson, json_type):
        add((mt, RDF.type, DCTERMS.MediaType))

    coll_href = f"{stac_prefix}/{quote(cid)}/collection.json"
    lics = tuple(license_nodes)
    for triple in _distribution(
        dataset,
        iri("dataset", cid, "distribution", "collection"),
        f"STAC collection {cid}",
        base + coll_href,
        json_type,
        cid,
        lics,
    ):
        add(triple)
    listed: set[str] = set()
    for link in collection.get("links", []):
        if link.get("rel") != "item":
            continue
        href = str(link["href"]).removeprefix("./")
        item_id = href.split("/")[0]
        if (items is not None and item_id not in items) or item_id in listed:
            continue
        listed.add(item_id)
        key = (str(dataset), item_id, href, stac_prefix, base, lics)
        dist = _ITEM_DISTRIBUTIONS.get(key)
        if dist is None:
            dist = _distribution(
                dataset,
                iri("dataset", cid, "distribution", item_id),
                f"STAC item {item_id}",
                f"{base}{stac_prefix}/{_quote_path(cid)}/{_quote_path(href)}",
                geojson,
                item_id,
                lics,
            )
            if len(_ITEM_DISTRIBUTIONS) >= _MEMO_MAX:
                _ITEM_DISTRIBUTIONS.clear()
            _ITEM_DISTRIBUTIONS[key] = dist
        out.extend(dist)  # distinct items have distinct nodes: no duplicate to look for
    return out


#: per process: (dataset, item, href, prefix, base, licences) -> its distribution's triples
_ITEM_DISTRIBUTIONS: dict[tuple[Any, ...], tuple[tuple[Any, Any, Any], ...]] = {}
_MEMO_MAX = 200_000


def _distribution(
    dataset: Any,
    node: Any,
    title: str,
    url: str,
    media: Any,
    ident: str,
    licenses: tuple[Any, ...],
) -> tuple[tuple[Any, Any, Any], ...]:
    """The triples of one distribution of ``dataset`` (and the link to it)."""
    from rdflib import Literal, URIRef
    from rdflib.namespace import DCAT, DCTERMS, RDF

    return (
        (node, RDF.type, DCAT.Distribution),
        (node, DCTERMS.identifier, Literal(ident)),
        (node, DCTERMS.title, Literal(title)),
        (node, DCAT.accessURL, URIRef(url)),
        (node, DCAT.mediaType, media),
        *((node, DCTERMS.license, lic) for lic in licenses),
        (dataset, DCAT.distribution, node),
    )


def build_dcat_graph(
    collection: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    stac_prefix: str = STAC,
) -> Graph:
    """The DCAT graph of the dataset behind a STAC ``collection`` dict."""
    from rdflib import Graph
    from rdflib.namespace import DCAT, DCTERMS, FOAF

    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dct", DCTERMS)
    g.bind("foaf", FOAF)
    g.bind("kfmid", dcat_prefixes(config)["kfmid"])
    for triple in dcat_triples(collection, config=config, stac_prefix=stac_prefix):
        g.add(triple)
    return g


def dcat_prefixes(config: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Prefixes of the DCAT Turtle (``kfmid:`` follows the configured base URL)."""
    base = str(_cfg(config or {}).get("base_url", DEFAULT_BASE_URL))
    if not base.endswith("/"):
        base += "/"
    return {
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "geo": "http://www.opengis.net/ont/geosparql#",
        "kfmid": base + "id/",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
    }


def dcat_bytes(graph: Triples, config: Mapping[str, Any] | None = None) -> bytes:
    """A DCAT graph (or its triples) as Turtle bytes (deterministic)."""
    from kfm_gate.provenance.rdfwrite import to_turtle

    return to_turtle(graph, dcat_prefixes(config))


def dcat_turtle(collection: Mapping[str, Any], *, config: Mapping[str, Any] | None = None) -> bytes:
    """The DCAT record of a collection as Turtle bytes."""
    return dcat_bytes(dcat_triples(collection, config=config), config)


def dcat_path(root: Path, collection_id: str) -> Path:
    from kfm_gate.layout import Layout

    return Layout(root).dcat_path(collection_id)
