"""Promotion, catalog and graph steps of a gated partition, without Dagster.

The promotion guard reads the decision recorded for the partition's *current* request (the
gate's run store is the source of truth) and refuses unless it is ``allow`` and was taken on
exactly this request. So a later run, a manual run of the promotion asset alone, or
automation can never publish a partition whose latest gate result is not an allow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from kfm_gate.errors import InputError, KfmGateError, RecordError
from kfm_gate.gate import Gate
from kfm_gate.ids import run_folder_name, sha256_bytes
from kfm_gate.layout import Layout
from kfm_gate.models import Decision, GovernanceFlags, PromotionRequest, join_flags
from kfm_gate.policy.contract import parse_request
from kfm_gate.runs import dumps

RELEASE_FILE = "release.json"
GRAPH_ROOT = "data/graph"


class PromotionRefusedError(KfmGateError):
    """The partition may not be promoted: no allow decision recorded for its current request."""

    reason_code = "PROMOTION_REFUSED"


def load_request(path: Path) -> PromotionRequest:
    """The request a processing step wrote; InputError when it is missing or invalid."""
    if not path.is_file():
        raise InputError(
            f"no promotion request at {path}: materialize the processing asset of this "
            "partition first"
        )
    return parse_request(path.read_bytes())


def expected_run_id(gate: Gate, request: PromotionRequest) -> str:
    """The gate run id of ``request`` under the gate's current policy set."""
    return gate.run_id_for(request)


def allowed_decision(gate: Gate, request: PromotionRequest) -> Decision:
    """The recorded allow decision of ``request``, or PromotionRefusedError saying why not."""
    part = f"{request.partition.aoi_key}|{request.partition.time_key}"
    rid = expected_run_id(gate, request)
    decision = gate.store.load_decision(rid)
    if decision is None:
        raise PromotionRefusedError(
            f"partition {part} has no gate decision for its current request (run {rid}): "
            "run the gate check of this partition first; nothing was published"
        )
    if decision.request_digest != request.request_digest:
        raise PromotionRefusedError(
            f"partition {part}: the decision of run {rid} was taken on request "
            f"{decision.request_digest}, not on the current {request.request_digest}; "
            "re-run the gate check (force) before promoting"
        )
    if decision.outcome != "allow":
        codes = ", ".join(decision.reason_codes) or "no reason code"
        raise PromotionRefusedError(
            f"partition {part} was not allowed: outcome {decision.outcome} "
            f"({decision.kfm_outcome}) in run {rid} [{codes}]; fix the data or get a waiver, "
            "then re-gate: nothing was published"
        )
    return decision


def public_dir(root: Path, request: PromotionRequest, decision: Decision) -> Path:
    part = request.partition
    return (
        root
        / "data/processed"
        / request.pipeline
        / request.dataset
        / part.aoi_key
        / part.time_key
        / "public"
        / run_folder_name(decision.run_id)
    )


@dataclass(frozen=True)
class Release:
    """The published state of one partition (``release.json`` beside its candidate)."""

    path: Path
    doc: Mapping[str, Any]
    changed: bool


def write_release(root: Path, request: PromotionRequest, decision: Decision) -> Release:
    """Record the publication of an allowed partition: run, decision and public files."""
    root = root.resolve()
    layout = Layout(root)
    folder = public_dir(root, request, decision)
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise RecordError(
            f"run {decision.run_id} is allowed but its public view {folder} is missing or "
            "empty: re-run the gate check with force to promote it again"
        )
    media = {Path(o.path).name: o.media_type for o in request.outputs}
    doc = {
        "schema_version": "1",
        "asset_key": request.asset_key,
        "partition": request.partition.to_json_dict(),
        "run_id": decision.run_id,
        "decision_id": decision.decision_id,
        "outcome": decision.outcome,
        "kfm_outcome": decision.kfm_outcome,
        "lifecycle_stage": decision.lifecycle_stage,
        "obligations": sorted({o.code for o in decision.obligations}),
        "policy_digest": decision.policy_digest,
        "request_digest": decision.request_digest,
        "public_files": [
            {
                "path": p.relative_to(root).as_posix(),
                "sha256": sha256_bytes(p.read_bytes()),
                "size": p.stat().st_size,
                "media_type": media.get(p.name, "application/octet-stream"),
            }
            for p in files
        ],
    }
    part = request.partition
    target = layout.resolve_relative(
        f"data/processed/{request.pipeline}/{request.dataset}/{part.aoi_key}/{part.time_key}/"
        f"{RELEASE_FILE}"
    )
    data = dumps(doc).encode("utf-8")
    changed = not (target.is_file() and target.read_bytes() == data)
    if changed:
        layout.write_bytes(target, data)
    return Release(target, doc, changed)


def read_release(root: Path, request: PromotionRequest, decision: Decision) -> Release:
    """The release of the partition, which must be the one of ``decision`` (else refused)."""
    part = request.partition
    path = (
        root.resolve()
        / "data/processed"
        / request.pipeline
        / request.dataset
        / part.aoi_key
        / part.time_key
        / RELEASE_FILE
    )
    if not path.is_file():
        raise PromotionRefusedError(
            f"partition {part.aoi_key}|{part.time_key} is not published (no {path.name}): "
            "materialize the promotion asset first"
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("run_id") != decision.run_id or doc.get("decision_id") != decision.decision_id:
        raise PromotionRefusedError(
            f"partition {part.aoi_key}|{part.time_key}: {path.name} is for run "
            f"{doc.get('run_id')}, not the allowed run {decision.run_id}; re-run the promotion"
        )
    return Release(path, doc, False)


# -- catalog ------------------------------------------------------------------------------


def _item_path(root: Path, request: PromotionRequest) -> Path:
    part = request.partition
    cid = request.collection or request.dataset
    return (
        root / "data/stac" / cid / f"{request.dataset}-{part.aoi_key}-{part.time_key}" / "item.json"
    )


def _published_geometry(paths: list[Path]) -> dict[str, Any] | None:
    import shapely
    from shapely.geometry import mapping, shape

    geoms = []
    for path in paths:
        if not path.name.endswith((".geojson", ".json")):
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feat in doc.get("features", []):
            if feat.get("geometry"):
                geoms.append(shape(feat["geometry"]))
    if not geoms:
        return None
    hull = shapely.union_all(geoms).convex_hull
    out: dict[str, Any] = json.loads(json.dumps(mapping(hull)))
    return out


def ensure_stac_item(
    root: Path, request: PromotionRequest, decision: Decision, release: Release
) -> tuple[Path, bool]:
    """The STAC item of an allowed partition: kept when the gate already wrote it for this
    run, else written from the run record (``kfm_gate.catalog.stac``). Returns (path, written).
    """
    from kfm_gate.catalog.stac import write_stac_item
    from kfm_gate.models import Evidence
    from kfm_gate.provenance.record import PublicFile, RunRecord

    root = root.resolve()
    item = _item_path(root, request)
    if item.is_file():
        try:
            props = json.loads(item.read_text(encoding="utf-8")).get("properties", {})
        except ValueError:
            props = {}
        if props.get("kfm:run_id") == decision.run_id:
            return item, False
    run_dir = root / "mcp/runs" / run_folder_name(decision.run_id)
    evidence_path = run_dir / "evidence.json"
    evidence = (
        Evidence.model_validate_json(evidence_path.read_text(encoding="utf-8"))
        if evidence_path.is_file()
        else Evidence()
    )
    config = (
        json.loads((run_dir / "config.json").read_text("utf-8"))
        if (run_dir / "config.json").is_file()
        else {}
    )
    flag_sets: list[GovernanceFlags] = [
        i.flags.with_origin(f"input:{i.id}") for i in request.inputs if i.flags is not None
    ]
    public = [
        PublicFile(
            relpath=str(f["path"]),
            sha256=str(f["sha256"]),
            size=int(f["size"]),
            media_type=str(f["media_type"]),
            role="data",
        )
        for f in release.doc["public_files"]
    ]
    record = RunRecord(
        request=request,
        decision=decision,
        evidence=evidence,
        started_at=decision.evaluated_at,
        ended_at=decision.evaluated_at,
        version=metadata.version("kfm-gate"),
        run_dir=run_dir,
        flags=join_flags(flag_sets) if flag_sets else None,
        config=config,
        public_files=tuple(public),
        published_geometry=_published_geometry([root / p.relpath for p in public]),
    )
    return write_stac_item(record, root), True


def ensure_dcat(root: Path, collection_id: str) -> tuple[Path, bool]:
    """The DCAT record of a collection: kept when the gate's recorder wrote it, else built from
    ``collection.json`` (Turtle). Returns (path, written)."""
    from kfm_gate.catalog.dcat import dcat_path, dcat_turtle

    root = root.resolve()
    target = dcat_path(root, collection_id)
    if target.is_file() and target.stat().st_size > 0:
        return target, False
    coll_path = root / "data/stac" / collection_id / "collection.json"
    if not coll_path.is_file():
        raise RecordError(
            f"no STAC collection at {coll_path}: the DCAT record is built from it; "
            "materialize the STAC item asset of an allowed partition first"
        )
    collection = json.loads(coll_path.read_text(encoding="utf-8"))
    Layout(root).write_bytes(target, dcat_turtle(collection))
    return target, True


# -- graph ------------------------------------------------------------------------------


LINEAGE_GRAPH = "data/graph/lineage.nt"


def ensure_graph(
    root: Path, request: PromotionRequest, decision: Decision, release: Release
) -> tuple[Path, bool]:
    """The partition in the lineage graph: the gate's recorder merges it into
    ``data/graph/lineage.nt``; when it did not (a gate built without recorder), the partition
    is ingested here as ``data/graph/<dataset>/<aoi>/<day>.json``. Returns (path, written)."""
    from kfm_gate.catalog.graph import RdfGraphSink

    root = root.resolve()
    graph = root / LINEAGE_GRAPH
    if RdfGraphSink(root).mentions(decision.decision_id):  # base file and its segments
        return graph, False
    path, _, changed = ingest_graph(root, request, decision, release)
    return path, changed


def ingest_graph(
    root: Path, request: PromotionRequest, decision: Decision, release: Release
) -> tuple[Path, int, bool]:
    """Merge the partition's public sites into the lineage graph (idempotent per partition).

    Writes ``data/graph/<dataset>/<aoi>/<day>.json``: nodes (dataset, partition, decision,
    sources, public sites with their *published* attributes) and edges. The same release
    gives the same bytes; a new release of the partition replaces its nodes.
    """
    root = root.resolve()
    part = request.partition
    pkey = f"{part.aoi_key}|{part.time_key}"
    nodes: list[dict[str, Any]] = [
        {"id": f"dataset:{request.dataset}", "type": "Dataset"},
        {
            "id": f"partition:{request.dataset}:{pkey}",
            "type": "Partition",
            "aoi": part.aoi_key,
            "day": part.time_key,
        },
        {
            "id": decision.decision_id,
            "type": "Decision",
            "outcome": decision.outcome,
            "run_id": decision.run_id,
        },
    ]
    edges: list[dict[str, str]] = [
        {
            "from": f"partition:{request.dataset}:{pkey}",
            "rel": "partOf",
            "to": f"dataset:{request.dataset}",
        },
        {
            "from": f"partition:{request.dataset}:{pkey}",
            "rel": "approvedBy",
            "to": decision.decision_id,
        },
    ]
    for ref in request.inputs:
        nodes.append(
            {"id": ref.id, "type": "Source", "version": ref.version or "", "sha256": ref.sha256}
        )
        edges.append(
            {"from": f"partition:{request.dataset}:{pkey}", "rel": "derivedFrom", "to": ref.id}
        )
    sites = 0
    for f in release.doc["public_files"]:
        path = root / str(f["path"])
        if not path.name.endswith((".geojson", ".json")):
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feat in doc.get("features", []):
            props = feat.get("properties") or {}
            sid = str(props.get("site_id") or feat.get("id"))
            nodes.append(
                {
                    "id": f"site:{sid}",
                    "type": "HistoricSite",
                    "site_type": str(props.get("site_type", "")),
                    "county_geoid": str(props.get("county_geoid", "")),
                }
            )
            edges.append(
                {
                    "from": f"site:{sid}",
                    "rel": "publishedIn",
                    "to": f"partition:{request.dataset}:{pkey}",
                }
            )
            sites += 1
    doc_out = {
        "schema_version": "1",
        "partition": pkey,
        "release_sha256": sha256_bytes(release.path.read_bytes()),
        "nodes": sorted(nodes, key=lambda n: n["id"]),
        "edges": sorted(edges, key=lambda e: (e["from"], e["rel"], e["to"])),
    }
    target = Layout(root).resolve_relative(
        f"{GRAPH_ROOT}/{request.dataset}/{part.aoi_key}/{part.time_key}.json"
    )
    data = dumps(doc_out).encode("utf-8")
    changed = not (target.is_file() and target.read_bytes() == data)
    if changed:
        Layout(root).write_bytes(target, data)
    return target, sites, changed
