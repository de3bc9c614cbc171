"""Evidence collected on the public view: one section per collector.

Evidence holds counts, types, columns, row indexes, scores and file checksums: never a raw
sensitive value, nor a hash of one.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import Field

from kfm_gate.ids import digest
from kfm_gate.models.base import KfmModel, Text


class EvidenceSection(KfmModel):
    """What one collector found. ``status='error'`` means the evidence is unresolved."""

    collector: Text
    version: Text = "1"
    status: Literal["ok", "error", "skipped"] = "ok"
    error: Text | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Evidence(KfmModel):
    """All evidence of one run, keyed by section name (``checksums``, ``placement``, ...)."""

    schema_version: Literal["1"] = "1"
    sections: dict[str, EvidenceSection] = Field(default_factory=dict)

    @cached_property
    def evidence_digest(self) -> str:
        """Digest of the canonical evidence (computed once per evidence object)."""
        return digest(self.to_json_dict())

    def to_policy_input(self) -> dict[str, Any]:
        """The evidence document the policies read: ``{section: {status, data...}}``."""
        return {
            name: {"status": s.status, "collector": s.collector, "error": s.error, **s.data}
            for name, s in sorted(self.sections.items())
        }
