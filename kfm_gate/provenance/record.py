"""The provenance record: what PROV-O, OpenLineage and the catalogs are built from.

The run store builds one :class:`RunRecord` per recorded decision, whatever the outcome
(:func:`kfm_gate.runs.draft_provenance`), and the publisher one per publication
(:func:`kfm_gate.runs.recorded_provenance`). Nothing in a record may be sensitive: the published
geometry is the *masked* one, public files carry checksums and sizes, evidence carries counts.
A request that could not be parsed gives a record with ``request=None`` and outcome ``error``:
it is identified by the digest of its bytes (``decision.request_digest``) only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfm_gate.errors import InputError, RecordError
from kfm_gate.ids import DIGEST_RE, run_folder_name
from kfm_gate.models import Decision, Evidence, GovernanceFlags, PromotionRequest

#: ISO 8601 UTC time with a ``Z`` (what the gate gives as start/end and ``evaluated_at``)
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class PublicFile:
    """One file of the public (masked, redacted) view, as it will be published."""

    relpath: str  # relative to the repository root, e.g. data/processed/.../public/sites.geojson
    sha256: str  # sha256:<64 hex>
    size: int
    media_type: str
    role: str  # data | metadata | thumbnail | overview
    source: str | None = None  # relpath of the candidate output it derives from (None: all)

    def __post_init__(self) -> None:
        if not DIGEST_RE.match(self.sha256):
            raise InputError(
                f"public file {self.relpath!r}: sha256 {self.sha256[:80]!r} is not "
                "'sha256:<64 lowercase hex>'; give the digest of the published bytes"
            )
        if self.size < 0:
            raise InputError(f"public file {self.relpath!r}: size {self.size} is negative")
        if self.relpath.startswith("/") or ".." in self.relpath.split("/"):
            raise InputError(
                f"public file {self.relpath!r} must be relative to the repository root, "
                "without '..'"
            )


@dataclass(frozen=True)
class RunRecord:
    """What one gate run produced, for PROV-O, OpenLineage, the ledger, STAC and DCAT."""

    request: PromotionRequest | None  # None: the request could not be parsed (outcome error)
    decision: Decision
    evidence: Evidence
    started_at: str
    ended_at: str
    version: str  # kfm-gate version
    run_dir: Path | None = None  # default: the layout's run folder
    flags: GovernanceFlags | None = None  # effective (joined) flags; None when missing
    config: Mapping[str, Any] = field(default_factory=dict)  # resolved config snapshot
    public_files: tuple[PublicFile, ...] = ()
    published_geometry: Mapping[str, Any] | None = None  # GeoJSON geometry, already masked
    policy_revision: str | None = None  # bundle revision; default: the policy digest

    def __post_init__(self) -> None:
        for name in ("started_at", "ended_at"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _TIME_RE.match(value):
                raise InputError(
                    f"run record {name}={value!r} is not an ISO 8601 time with a zone; "
                    "give e.g. 2026-11-25T00:00:00Z (deterministic, not the wall clock)"
                )
        if self.decision.run_id != self.decision.run_id.strip():
            raise InputError(f"run id {self.decision.run_id!r} has surrounding spaces")
        if self.request is None and self.decision.outcome != "error":
            raise InputError(
                f"run {self.decision.run_id}: a record without a parsed request must have "
                f"outcome error, not {self.decision.outcome}; give the request, or record the "
                "rejection as an error"
            )

    @property
    def run_id(self) -> str:
        return self.decision.run_id

    @property
    def folder(self) -> str:
        """The run folder name (:func:`kfm_gate.ids.run_folder_name`)."""
        return run_folder_name(self.decision.run_id)

    @property
    def parsed_request(self) -> PromotionRequest:
        """The request; :class:`RecordError` when it could not be parsed (nothing to publish)."""
        if self.request is None:
            raise RecordError(
                f"run {self.decision.run_id} has no parsed request (it was rejected before "
                "evaluation, outcome error): it has no partition, collection or item and "
                "cannot be published; fix the request and submit it again"
            )
        return self.request

    @property
    def partition_key(self) -> str:
        """``<aoi>|<time>``; empty when the request could not be parsed."""
        if self.request is None:
            return ""
        p = self.request.partition
        return f"{p.aoi_key}|{p.time_key}"

    @property
    def collection_id(self) -> str:
        req = self.parsed_request
        return req.collection or req.dataset

    @property
    def item_id(self) -> str:
        """The STAC item id of the partition: ``<dataset>-<aoi>-<time>``."""
        req = self.parsed_request
        p = req.partition
        return f"{req.dataset}-{p.aoi_key}-{p.time_key}"

    @property
    def revision(self) -> str:
        return self.policy_revision or self.decision.policy_digest

    def resolve_run_dir(self, root: Path) -> Path:
        from kfm_gate.layout import Layout

        return self.run_dir if self.run_dir is not None else Layout(root).run_dir(self.run_id)
