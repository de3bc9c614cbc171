"""The historic-sites pipeline as Dagster assets.

::

    kfm/raw/<source_id>            one per source manifest: the raw records, checksum verified
          |
    kfm/processed/historic_sites   AOI x day: candidate GeoJSON + promotion request
          |  [check kfm_gate: blocking, partitioned: the gate]
    kfm/published/historic_sites   the publisher promotes a recorded allow of the current request
          |                         (public view, STAC item + collection, DCAT, graph)
    kfm/catalog/stac_item  ->  kfm/catalog/dcat        kfm/graph/historic_sites
                                 (report what the publisher wrote)

The check only gates (the gate records, it never publishes). Promotion and everything below
it carry ``eager() & all_deps_blocking_checks_passed()``; the publisher also refuses by itself
unless the gate allowed the partition's current request, so no later run and no automation
can publish a denied partition.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from kfm_gate.errors import KfmGateError
from kfm_gate.ids import sha256_bytes
from kfm_gate.orchestration.checks import RESOURCE_KEY, build_gate_checks, latest_check_passed
from kfm_gate.orchestration.lineage import write_failure_event
from kfm_gate.orchestration.partitions import context_partition, partitions_def
from kfm_gate.orchestration.processing import ASSET_KEY, DATASET, PIPELINE, build_candidate
from kfm_gate.orchestration.publication import (
    PromotionRefusedError,
    load_request,
    promote,
    published_state,
)
from kfm_gate.orchestration.resources import KfmGateResource
from kfm_gate.orchestration.sources import load_snapshot, manifest_paths, read_manifest
from kfm_gate.orchestration.translator import CHECK_NAME, META, KfmGateTranslator
from kfm_gate.publication import PublicationState

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
        description="Publishes the partition (public view, STAC, DCAT, graph) through the "
        "publisher; refuses unless the gate's recorded decision for the partition's current "
        "request is allow",
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
        request = load_request(_request_path(root, part.aoi_key, part.day))
        done = promote(resource.gate(), request)
        state = done.state
        return dg.MaterializeResult(
            metadata={
                f"{META}/partition": part.key,
                f"{META}/run_id": state.run_id,
                f"{META}/decision_id": state.decision_id,
                f"{META}/obligations": ", ".join(_obligations(resource, state)) or "-",
                f"{META}/public_files": len(state.public_files),
                f"{META}/publication_version": state.version,
                f"{META}/rewritten": bool(done.changed),
            },
            data_version=dg.DataVersion(state.decision_id),
        )

    def _published(context: AssetExecutionContext) -> tuple[Path, PublicationState]:
        """The partition's publication state, which must be of its current allow."""
        resource = _gate(context)
        root = resource.repo_root
        part = context_partition(context)
        request = load_request(_request_path(root, part.aoi_key, part.day))
        return root, published_state(resource.gate(), request)

    @dg.asset(
        key=STAC_KEY,
        deps=[PUBLISHED_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="STAC item of the published partition (data/stac/historic_sites/<item>/), "
        "as the publisher wrote it",
        required_resource_keys={RESOURCE_KEY},
        kinds={"stac"},
    )
    def stac_item(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        root, state = _published(context)
        item = root / state.stac_item
        return dg.MaterializeResult(
            metadata={
                f"{META}/item": state.stac_item,
                f"{META}/item_version": state.item_version,
                f"{META}/sha256": sha256_bytes(item.read_bytes()),
                f"{META}/run_id": state.run_id,
            }
        )

    @dg.asset(
        key=DCAT_KEY,
        deps=[STAC_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="DCAT record of the historic_sites collection, as the publisher wrote it",
        required_resource_keys={RESOURCE_KEY},
        kinds={"dcat"},
    )
    def dcat(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        root, state = _published(context)
        path = _gate(context).gate().layout.dcat_path(state.dataset)
        return dg.MaterializeResult(
            metadata={
                f"{META}/record": path.relative_to(root).as_posix(),
                f"{META}/sha256": sha256_bytes(path.read_bytes()),
            }
        )

    @dg.asset(
        key=GRAPH_KEY,
        deps=[PUBLISHED_KEY],
        partitions_def=partitions_def,
        group_name=PIPELINE_GROUP,
        automation_condition=PROMOTION_CONDITION,
        description="Lineage graph of the published partition, as the publisher merged it",
        required_resource_keys={RESOURCE_KEY},
        kinds={"rdf"},
    )
    def graph(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        from kfm_gate.catalog.graph import RdfGraphSink

        root, state = _published(context)
        sink = RdfGraphSink(root)
        if not sink.mentions(state.decision_id):
            raise PromotionRefusedError(
                f"the lineage graph does not hold decision {state.decision_id}: re-run the "
                "promotion asset"
            )
        return dg.MaterializeResult(
            metadata={
                f"{META}/graph": sink.path.relative_to(root).as_posix(),
                f"{META}/files": len(sink.files()),
                f"{META}/decision_id": state.decision_id,
            }
        )

    return [processed, published, stac_item, dcat, graph], checks


def _obligations(resource: KfmGateResource, state: PublicationState) -> list[str]:
    record = resource.gate().store.current(state.run_id)
    if record is None:
        return []
    return sorted({o.code for o in record.decision.obligations})


def _request_path(root: Path, aoi_key: str, day: str) -> Path:
    return HistoricSitesTranslator().get_request_path(root, PROCESSED_KEY, _ref(aoi_key, day))


def _ref(aoi_key: str, day: str) -> Any:
    from kfm_gate.orchestration.partitions import PartitionRef

    return PartitionRef(aoi_key, day)
