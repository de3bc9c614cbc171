"""Pydantic models of kfm-gate (frozen, ``extra='forbid'``, with a ``schema_version``)."""

from __future__ import annotations

import json
from pathlib import Path

from kfm_gate.models.aoi import Aoi
from kfm_gate.models.base import SCHEMA_VERSION, KfmModel
from kfm_gate.models.decision import (
    KFM_OUTCOME,
    LIFECYCLE,
    Decision,
    Obligation,
    Outcome,
    Violation,
    Waived,
)
from kfm_gate.models.evidence import Evidence, EvidenceSection
from kfm_gate.models.flags import GovernanceFlags, join_flags
from kfm_gate.models.manifest import SourceManifest
from kfm_gate.models.request import InputRef, OutputRef, Partition, PromotionRequest
from kfm_gate.models.waiver import Waiver, WaiverScope

#: models whose JSON Schema is exported for other tools
EXPORTED: dict[str, type[KfmModel]] = {
    "aoi": Aoi,
    "decision": Decision,
    "evidence": Evidence,
    "governance_flags": GovernanceFlags,
    "obligation": Obligation,
    "promotion_request": PromotionRequest,
    "source_manifest": SourceManifest,
    "waiver": Waiver,
}


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write ``<name>.schema.json`` for every exported model; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in sorted(EXPORTED.items()):
        path = out_dir / f"{name}.schema.json"
        schema = model.model_json_schema()
        schema["$id"] = f"https://kfm.example/schemas/kfm-gate/{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


__all__ = [
    "EXPORTED",
    "KFM_OUTCOME",
    "LIFECYCLE",
    "SCHEMA_VERSION",
    "Aoi",
    "Decision",
    "Evidence",
    "EvidenceSection",
    "GovernanceFlags",
    "InputRef",
    "KfmModel",
    "Obligation",
    "Outcome",
    "OutputRef",
    "Partition",
    "PromotionRequest",
    "SourceManifest",
    "Violation",
    "Waived",
    "Waiver",
    "WaiverScope",
    "export_json_schemas",
    "join_flags",
]
