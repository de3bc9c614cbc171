"""The sensor over ``data/sources/*.yml``: new or changed manifests, and only those, run.

Its cursor (see :mod:`kfm_gate.orchestration.cursor`) holds each manifest's digest, raw
checksum, version, watermark and per-day digests. One run per partition (a run covering many
partitions would be blocked as a whole by one denial); run keys carry the manifest digest, so
the same change never launches twice. Registry AOIs not yet known as partitions are added first.
"""

from typing import Any

import dagster as dg
from dagster import SensorEvaluationContext

from kfm_gate.errors import KfmGateError
from kfm_gate.orchestration.areas import county_ids
from kfm_gate.orchestration.cursor import plan_source_runs
from kfm_gate.orchestration.instance import partition_tags
from kfm_gate.orchestration.partitions import AOI_PARTITIONS_NAME, PartitionRef
from kfm_gate.orchestration.resources import KfmGateResource

SENSOR_NAME = "kfm_source_manifests"


def build_source_sensor(
    partition_job: Any,
    source_job: Any,
    source_asset_keys: set[dg.AssetKey],
    *,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """The sensor; it launches ``partition_job`` per partition and ``source_job`` per source."""

    @dg.sensor(
        name=SENSOR_NAME,
        jobs=[partition_job, source_job],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="New or changed source manifests under data/sources/ -> one gated run per "
        "partition they feed (append-only sources: new partitions only)",
    )
    def kfm_source_manifests(
        context: SensorEvaluationContext, kfm_gate: KfmGateResource
    ) -> dg.SensorResult | dg.SkipReason:
        root = kfm_gate.repo_root
        try:
            registry = county_ids(root)
        except KfmGateError as err:
            return dg.SkipReason(f"AOI registry unusable: {err}")
        known = set(context.instance.get_dynamic_partitions(AOI_PARTITIONS_NAME))
        new_aois = sorted(set(registry) - known)
        plan = plan_source_runs(root, context.cursor)
        for problem in plan.problems:
            context.log.error(problem)
        registered = known | set(registry)
        runs: list[dg.RunRequest] = []
        for change in plan.changes:
            key = dg.AssetKey(["kfm", "raw", change.source_id])
            if key in source_asset_keys:
                runs.append(
                    dg.RunRequest(
                        run_key=f"snapshot:{change.source_id}:{change.manifest_digest[7:31]}",
                        job_name=source_job.name,
                        asset_selection=[key],
                        tags={"kfm/source": change.source_id, "kfm/reason": change.reason},
                    )
                )
            else:
                context.log.warning(
                    f"source {change.source_id} is new since the code location loaded: reload "
                    "it to get its snapshot asset (its partitions are gated now)"
                )
            context.log.info(
                f"source {change.source_id}: {change.reason}, version {change.version}"
                + (f" (after {change.predecessor_version})" if change.predecessor_version else "")
                + f", {len(change.partitions)} partition(s)"
            )
        for aoi, day in plan.partitions(registered):
            ref = PartitionRef(aoi, day)
            sources = sorted(c.source_id for c in plan.changes if (aoi, day) in c.partitions)
            digests = "-".join(
                c.manifest_digest[7:19] for c in plan.changes if (aoi, day) in c.partitions
            )
            runs.append(
                dg.RunRequest(
                    run_key=f"{ref.key}:{digests}",
                    job_name=partition_job.name,
                    partition_key=ref.multi_key(),
                    tags={"kfm/sources": ",".join(sources), **partition_tags(aoi)},
                )
            )
        return dg.SensorResult(
            run_requests=runs,
            cursor=plan.cursor_json(),
            dynamic_partitions_requests=(
                [dg.AddDynamicPartitionsRequest(AOI_PARTITIONS_NAME, new_aois)] if new_aois else []
            ),
        )

    return kfm_source_manifests
