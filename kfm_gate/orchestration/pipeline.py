"""``build_definitions``: assets, the gate check, jobs, sensors and the resource of one root.

``definitions.py`` calls it once at import for ``dagster dev``; the runner, the tests and the
benchmark call it with their own root and resource.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from kfm_gate.orchestration.assets import (
    PIPELINE_GROUP,
    SOURCES_GROUP,
    build_pipeline_assets,
    build_source_assets,
)
from kfm_gate.orchestration.checks import RESOURCE_KEY
from kfm_gate.orchestration.resources import KfmGateResource
from kfm_gate.orchestration.sensors import build_source_sensor

PARTITION_JOB = "kfm_historic_sites_partition"
SOURCE_JOB = "kfm_source_snapshots"
AUTOMATION_SENSOR = "kfm_automation"


def default_root() -> Path:
    env = os.environ.get("KFM_GATE_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "policies").is_dir():
        return checkout
    return Path.cwd().resolve()


def build_definitions(
    root: Path | None = None, *, resource: KfmGateResource | None = None
) -> dg.Definitions:
    """Assets, the gate check, jobs, the source sensor, automation and the gate resource."""
    root = (root or default_root()).resolve()
    resource = resource or KfmGateResource(
        root=str(root),
        policy_dir=os.environ.get("KFM_GATE_POLICY_DIR", "policies"),
        as_of=os.environ.get("KFM_GATE_AS_OF") or None,
    )
    resource.resolve()  # fail fast on bad settings, when the definitions load
    sources = build_source_assets(root)
    pipeline, checks = build_pipeline_assets([a.key for a in sources])
    partition_job = dg.define_asset_job(
        PARTITION_JOB,
        selection=dg.AssetSelection.groups(PIPELINE_GROUP),
        description="One AOI x day partition: process, gate, promote, catalog, graph",
        # every step in the run's own process: a process per step would pay the warm-up
        # (imports, policies, quality worker: ~20 s) once per step (docs/deployment.md)
        executor_def=dg.in_process_executor,
    )
    source_job = dg.define_asset_job(
        SOURCE_JOB,
        selection=dg.AssetSelection.groups(SOURCES_GROUP),
        description="Snapshot (verify) the raw data of the source manifests",
    )
    sensor = build_source_sensor(partition_job, source_job, {a.key for a in sources})
    automation = dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.groups(PIPELINE_GROUP),
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    return dg.Definitions(
        assets=[*sources, *pipeline],
        asset_checks=checks,
        jobs=[partition_job, source_job],
        sensors=[sensor, automation],
        resources={RESOURCE_KEY: resource},
    )
