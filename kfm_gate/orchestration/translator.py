"""How a Dagster asset maps to a gate request and back: override any ``get_*`` hook.

Another team gates its own assets without changing them: subclass
:class:`KfmGateTranslator`, override where its asset's request comes from (and the names), and
pass it to :func:`kfm_gate.orchestration.checks.build_gate_checks`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from kfm_gate.gate import GateRun
from kfm_gate.models import PromotionRequest
from kfm_gate.orchestration.partitions import PartitionRef, context_partition
from kfm_gate.orchestration.publication import load_request

CHECK_NAME = "kfm_gate"
META = "kfm"


class KfmGateTranslator:
    """Default mapping: ``<pipeline>/<dataset>`` from the asset key's last two segments and the
    request written by the asset at ``data/processed/<pipeline>/<dataset>/<aoi>/<day>/request.json``.
    """

    def get_check_name(self, asset_key: dg.AssetKey) -> str:
        return CHECK_NAME

    def get_check_description(self, asset_key: dg.AssetKey) -> str:
        return (
            f"kfm-gate governance gate of {asset_key.to_user_string()}: evidence, obligations "
            "and the council's Rego policies, per AOI x day partition; passes only on allow"
        )

    def get_pipeline(self, asset_key: dg.AssetKey) -> str:
        return asset_key.path[-2] if len(asset_key.path) > 1 else "default"

    def get_dataset(self, asset_key: dg.AssetKey) -> str:
        return asset_key.path[-1]

    def get_partition(self, context: Any) -> PartitionRef:
        return context_partition(context)

    def get_request_path(self, root: Path, asset_key: dg.AssetKey, partition: PartitionRef) -> Path:
        from kfm_gate.layout import Layout

        pipeline, dataset = self.get_pipeline(asset_key), self.get_dataset(asset_key)
        rel = Layout(root).partition_rel(pipeline, dataset, partition.aoi_key, partition.day)
        return root / rel / "request.json"

    def get_request(
        self, context: Any, root: Path, asset_key: dg.AssetKey, partition: PartitionRef
    ) -> PromotionRequest:
        """The request to gate (default: the one the asset wrote for this partition)."""
        return load_request(self.get_request_path(root, asset_key, partition))

    def get_metadata(self, run: GateRun) -> dict[str, Any]:
        """Check metadata: outcome, ids, counts and codes only (never a data value)."""
        d = run.decision
        return {
            f"{META}/outcome": d.outcome,
            f"{META}/kfm_outcome": d.kfm_outcome,
            f"{META}/lifecycle_stage": d.lifecycle_stage,
            f"{META}/run_id": d.run_id,
            f"{META}/decision_id": d.decision_id,
            f"{META}/reason_codes": ", ".join(d.reason_codes) or "-",
            f"{META}/obligations": ", ".join(sorted({o.code for o in d.obligations})) or "-",
            f"{META}/violations": len(d.violations),
            f"{META}/warnings": len(d.warnings),
            f"{META}/reused": run.reused,
            f"{META}/policy_digest": d.policy_digest,
        }
