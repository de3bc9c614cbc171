"""The historic-sites pipeline as Dagster assets.

::

    kfm/raw/<source_id>            one per source manifest: the raw records, checksum verified
          |
    kfm/processed/historic_sites   AOI x day: candidate GeoJSON + promotion request
          |  [check kfm_gate: blocking, partitioned: the gate]
    kfm/published/historic_sites   promotes only a partition whose recorded decision is allow
          |
    kfm/catalog/stac_item  ->  kfm/catalog/dcat        kfm/graph/historic_sites

Promotion and everything below it carry ``eager() & all_deps_blocking_checks_passed()``; the
promotion asset also refuses by itself unless the gate allowed the partition's current request,
so no later run and no automation can publish a denied partition.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from kfm_gate.errors import KfmGateError
from kfm_gate.ids import sha256_bytes
from kfm_gate.models import Decision, PromotionRequest
from kfm_gate.orchestration.checks import RESOURCE_KEY, build_gate_checks, latest_check_passed
from kfm_gate.orchestration.lineage import write_failure_event
from kfm_gate.orchestration.partitions import context_partition, partitions_def
from kfm_gate.orchestration.processing import ASSET_KEY, DATASET, PIPELINE, build_candidate
from kfm_gate.orchestration.publication import (
    PromotionRefusedError,
    Release,
    allowed_decision,
    ensure_dcat,
    ensure_graph,
    ensure_stac_item,
    load_request,
    read_release,
    write_release,
)
from kfm_gate.orchestration.resources import KfmGateResource
from kfm_gate.orchestration.sources import load_snapshot, manifest_paths, read_manifest
from kfm_gate.orchestration.translator import CHECK_NAME, META, KfmGateTranslator

PROCESSED_KEY = dg.AssetKey(["kfm", "processed", DATASET])
PUBLISHED_KEY = dg.AssetKey(["kfm", "published", DATASET])
STAC_KEY = dg.AssetKey(["kfm", "catalog", "stac_item"])
DCAT_KEY = dg.AssetKey(["kfm", "catalog", "dcat"])
GRAPH_KEY = dg.AssetKey(["kfm", "graph", DATASET])
GATE_CHECK_KEY = dg.AssetCheckKey(PROCESSED_KEY, CHECK_NAME)
SOURCES_GROUP = "kfm_sources"
PIPELINE_GROUP = "kfm_historic_sites"

#: publish only after every upstream blocking check (the gate) passed
PROMOTION_CONDITION = dg.AutomationCondition.eager() & (
    dg.AutomationCondition.all_deps_blocking_checks_passed()
)


def source_key(source_id: str) -> dg.AssetKey:
    return dg.AssetKey(["kfm", "raw", source_id])


class HistoricSitesTranslator(KfmGateTranslator):
    """The survey pipeline's names: pipeline ``survey``, dataset ``historic_sites``."""

    def get_pipeline(self, asset_key: dg.AssetKey) -> str:
        return PIPELINE

    def get_dataset(self, asset_key: dg.AssetKey) -> str:
        return DATASET


def _gate(context: Any) -> KfmGateResource:
    resource: KfmGateResource = getattr(context.resources, RESOURCE_KEY)
    return resource


def build_source_assets(root: Path) -> list[dg.AssetsDefinition]:
    """One snapshot asset per ``data/sources/*.yml`` found when the definitions load."""
    out = []
    for path in manifest_paths(root):
        manifest, _ = read_manifest(path)
        out.append(_source_asset(manifest.source_id, manifest.title, path.name))
    return out


def _source_asset(source_id: str, title: str, file_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=source_key(source_id),
        group_name=SOURCES_GROUP,
        description=f"{title}: raw records as the source manifest data/sources/{file_name} "
        "declares them (checksum verified)",
        required_resource_keys={RESOURCE_KEY},
        metadata={f"{META}/manifest": f"data/sources/{file_name}"},
        kinds={"csv"},
    )
    def _snapshot(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        root = _gate(context).repo_root
        snap = load_snapshot(root, root / "data/sources" / file_name)
        head = snap.manifest.source_head
        return dg.MaterializeResult(
            metadata={
                f"{META}/source_id": snap.source_id,
                f"{META}/version": head.version,
                f"{META}/predecessor_version": head.predecessor_version or "-",
                f"{META}/manifest_digest": snap.manifest_digest,
                f"{META}/content_sha256": snap.raw_sha256,
                f"{META}/watermark": snap.manifest.watermark or "-",
                f"{META}/rights_status": snap.manifest.rights.rights_status,
                f"{META}/rows": sum(len(v) for v in snap.rows_by_partition.values()),
                f"{META}/partitions": len(snap.partitions),
            },
            data_version=dg.DataVersion(snap.manifest_digest),
        )

    return _snapshot


def build_pipeline_assets(
    source_keys: list[dg.AssetKey],
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """The partitioned assets and the gate check of the historic-sites pipeline."""

    @dg.asset(
        key=PROCESSED_KEY,
        deps=source_keys,
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        description="Candidate GeoJSON of one AOI x day and its promotion request "
        "(data/processed/survey/historic_sites/<aoi>/<day>/)",
        required_resource_keys={RESOURCE_KEY},
        kinds={"geojson"},
    )
    def processed(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        resource = _gate(context)
        root = resource.repo_root
        part = context_partition(context)
        try:
            cand = build_candidate(
                root, part.aoi_key, part.day, code_ref=resource.resolve().code_ref
            )
        except KfmGateError as err:
            write_failure_event(
                root,
                asset_key=ASSET_KEY,
                aoi_key=part.aoi_key,
                day=part.day,
                dagster_run_id=context.run.run_id,
                error=err,
            )
            raise
        return dg.MaterializeResult(
            metadata={
                f"{META}/partition": part.key,
                f"{META}/rows": cand.rows,
                f"{META}/inputs": ", ".join(i.id for i in cand.request.inputs),
                f"{META}/request_digest": cand.request.request_digest,
                f"{META}/rewritten": cand.changed,
            },
            data_version=dg.DataVersion(cand.request.request_digest),
        )

    checks = build_gate_checks(
        [PROCESSED_KEY], partitions_def=partitions_def, translator=HistoricSitesTranslator()
    )

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[PROCESSED_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="Publishes the partition's public view; refuses unless the gate's latest "
        "decision for the partition's current request is allow",
        required_resource_keys={RESOURCE_KEY},
    )
    def published(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        resource = _gate(context)
        root = resource.repo_root
        part = context_partition(context)
        passed = latest_check_passed(context, GATE_CHECK_KEY, part.key)
        if passed is False:
            raise PromotionRefusedError(
                f"partition {part.key}: the latest {CHECK_NAME} check did not pass; nothing was "
                "published (re-gate the partition after fixing its data)"
            )
        release = _release(resource, root, part.aoi_key, part.day)
        doc = release.doc
        return dg.MaterializeResult(
            metadata={
                f"{META}/partition": part.key,
                f"{META}/run_id": str(doc["run_id"]),
                f"{META}/decision_id": str(doc["decision_id"]),
                f"{META}/obligations": ", ".join(doc["obligations"]) or "-",
                f"{META}/public_files": len(doc["public_files"]),
                f"{META}/rewritten": release.changed,
            },
            data_version=dg.DataVersion(str(doc["decision_id"])),
        )

    def _released(
        context: AssetExecutionContext,
    ) -> tuple[Path, PromotionRequest, Decision, Release]:
        """The partition's request, its allow decision (or a refusal) and its release."""
        resource = _gate(context)
        root = resource.repo_root
        part = context_partition(context)
        request = load_request(_request_path(root, part.aoi_key, part.day))
        decision = allowed_decision(resource.gate(), request)
        return root, request, decision, read_release(root, request, decision)

    @dg.asset(
        key=STAC_KEY,
        deps=[PUBLISHED_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="STAC item of the published partition (data/stac/historic_sites/<item>/)",
        required_resource_keys={RESOURCE_KEY},
        kinds={"stac"},
    )
    def stac_item(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        root, request, decision, release = _released(context)
        item, written = ensure_stac_item(root, request, decision, release)
        return dg.MaterializeResult(
            metadata={
                f"{META}/item": item.relative_to(root).as_posix(),
                f"{META}/run_id": decision.run_id,
                f"{META}/written_here": written,
            }
        )

    @dg.asset(
        key=DCAT_KEY,
        deps=[STAC_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="DCAT record of the historic_sites collection, refreshed with each item",
        required_resource_keys={RESOURCE_KEY},
        kinds={"dcat"},
    )
    def dcat(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        root = _gate(context).repo_root
        path, written = ensure_dcat(root, DATASET)
        return dg.MaterializeResult(
            metadata={
                f"{META}/record": path.relative_to(root).as_posix(),
                f"{META}/sha256": sha256_bytes(path.read_bytes()),
                f"{META}/written_here": written,
            }
        )

    @dg.asset(
        key=GRAPH_KEY,
        deps=[PUBLISHED_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="Lineage-graph ingest of the published partition (idempotent merge)",
        required_resource_keys={RESOURCE_KEY},
        kinds={"json"},
    )
    def graph(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        root, request, decision, release = _released(context)
        path, written = ensure_graph(root, request, decision, release)
        return dg.MaterializeResult(
            metadata={
                f"{META}/graph": path.relative_to(root).as_posix(),
                f"{META}/decision_id": decision.decision_id,
                f"{META}/written_here": written,
            }
        )

    return [processed, published, stac_item, dcat, graph], checks


def _request_path(root: Path, aoi_key: str, day: str) -> Path:
    return HistoricSitesTranslator().get_request_path(root, PROCESSED_KEY, _ref(aoi_key, day))


def _ref(aoi_key: str, day: str) -> Any:
    from kfm_gate.orchestration.partitions import PartitionRef

    return PartitionRef(aoi_key, day)


def _release(resource: KfmGateResource, root: Path, aoi_key: str, day: str) -> Release:
    """Guard, then publish: the decision of the partition's current request must be allow."""
    request = load_request(_request_path(root, aoi_key, day))
    decision = allowed_decision(resource.gate(), request)
    return write_release(root, request, decision)
