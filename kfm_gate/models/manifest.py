"""Source manifests (``data/sources/<source>.yml``), KFM SourceDescriptor v1 field names."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kfm_gate.models.base import KfmModel
from kfm_gate.models.flags import GovernanceFlags

RightsStatus = Literal[
    "verified_open",
    "verified_restricted",
    "permission_required",
    "unknown",
    "noassertion",
    "denied",
]
#: rights statuses that never publish
NEVER_PUBLISH = frozenset({"unknown", "noassertion", "denied"})


class Rights(KfmModel):
    rights_status: RightsStatus
    license_or_terms: str
    rights_holder: str = ""
    redistribution_allowed: bool = False


class Access(KfmModel):
    access_method: str = "file"
    access_posture: str = "public"


class Cadence(KfmModel):
    update_cadence: Literal["static", "append_only", "daily", "weekly", "monthly", "irregular"] = (
        "static"
    )


class ContentIdentity(KfmModel):
    content_sha256: str


class SourceHead(KfmModel):
    content_identity: ContentIdentity
    version: str = "1"
    predecessor_version: str | None = None


class SourceManifest(KfmModel):
    """A source as KFM describes it: rights, access, cadence, checksum, flags, watermark."""

    schema_version: Literal["1"] = "1"
    source_id: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,63}$")
    title: str
    rights: Rights
    access: Access = Access()
    cadence: Cadence = Cadence()
    sensitivity_default: str = "unknown_review_required"
    source_head: SourceHead
    flags: GovernanceFlags | None = None
    path: str = Field(default="", description="raw file, relative to the repository root")
    watermark: str | None = Field(default=None, description="last day (YYYY-MM-DD) covered")
