"""``build_gate_checks``: the gate as blocking, partitioned asset checks.

Each check gates one AOI x day partition of its asset: it asks the translator for the
partition's request, calls the gate once (a recorded decision is reused), and passes only
on ``allow``. It is ``blocking``: a failure stops the downstream assets of the same run; the
promotion asset guards against later runs and automation itself.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext

from kfm_gate.errors import KfmGateError
from kfm_gate.orchestration.lineage import write_failure_event
from kfm_gate.orchestration.resources import KfmGateResource
from kfm_gate.orchestration.translator import META, KfmGateTranslator

RESOURCE_KEY = "kfm_gate"

AssetRef = dg.AssetKey | str | Sequence[str] | dg.AssetsDefinition


def _key_of(asset: AssetRef) -> dg.AssetKey:
    if isinstance(asset, dg.AssetsDefinition):
        return asset.key
    if isinstance(asset, dg.AssetKey):
        return asset
    if isinstance(asset, str):
        return dg.AssetKey.from_user_string(asset)
    return dg.AssetKey(list(asset))


def _build_one(
    asset_key: dg.AssetKey,
    translator: KfmGateTranslator,
    partitions_def: dg.PartitionsDefinition | None,
    resource_key: str,
    blocking: bool,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name=translator.get_check_name(asset_key),
        description=translator.get_check_description(asset_key),
        blocking=blocking,
        partitions_def=partitions_def,
        required_resource_keys={resource_key},
        metadata={f"{META}/gate": "kfm-gate"},
    )
    def _gate_check(context: AssetCheckExecutionContext) -> dg.AssetCheckResult:
        resource: KfmGateResource = getattr(context.resources, resource_key)
        root = resource.repo_root
        partition = translator.get_partition(context)
        try:
            request = translator.get_request(context, root, asset_key, partition)
        except KfmGateError as err:
            # fail closed, and leave lineage of the failed step behind
            path = write_failure_event(
                root,
                asset_key=asset_key.to_user_string(),
                aoi_key=partition.aoi_key,
                day=partition.day,
                dagster_run_id=context.run.run_id,
                error=err,
            )
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                description=f"no request to gate: {err}",
                metadata={
                    f"{META}/outcome": "error",
                    f"{META}/reason_codes": err.reason_code,
                    f"{META}/lineage": path.relative_to(root).as_posix(),
                },
            )
        run = resource.gate().evaluate(request)
        d = run.decision
        context.log.info(
            f"gate {partition.key}: {d.outcome} ({d.kfm_outcome}) run {d.run_id}"
            + (" [recorded decision reused]" if run.reused else "")
        )
        return dg.AssetCheckResult(
            passed=d.outcome == "allow",
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{d.outcome}: {', '.join(d.reason_codes) or 'no violation'}",
            metadata=translator.get_metadata(run),
        )

    return _gate_check


def build_gate_checks(
    assets: Sequence[AssetRef],
    *,
    partitions_def: dg.PartitionsDefinition | None,
    translator: KfmGateTranslator | None = None,
    resource_key: str = RESOURCE_KEY,
    blocking: bool = True,
) -> list[dg.AssetChecksDefinition]:
    """One blocking gate check per asset, partitioned like the asset (give ``partitions_def``,
    or the check's status is shared by every partition). The resource ``resource_key`` must be
    a :class:`KfmGateResource`.
    """
    translator = translator or KfmGateTranslator()
    if not assets:
        raise ValueError("build_gate_checks needs at least one asset to gate")
    return [
        _build_one(_key_of(a), translator, partitions_def, resource_key, blocking) for a in assets
    ]


def latest_check_passed(
    context: Any, check_key: dg.AssetCheckKey, partition_key: str
) -> bool | None:
    """Whether the latest execution of ``check_key`` for one partition passed: None when it
    never ran here (or the instance cannot say), False when it failed or never finished."""
    try:
        from dagster._core.event_api import PartitionKeyFilter
    except ImportError:  # pragma: no cover - internal API moved
        return None
    storage = context.instance.event_log_storage
    records = storage.get_asset_check_execution_history(
        check_key, limit=1, partition_filter=PartitionKeyFilter(key=partition_key)
    )
    if not records:
        return None
    evaluation = records[0].evaluation
    # planned but never evaluated (the run failed or is still going): not a pass
    return bool(evaluation.passed) if evaluation is not None else False
