"""Source manifests (``data/sources/<source>.yml``), KFM SourceDescriptor v1 field names."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from kfm_gate.ids import DIGEST_RE
from kfm_gate.models.base import Flag, KfmModel, Text
from kfm_gate.models.flags import GovernanceFlags, Sensitivity

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
    license_or_terms: Text
    rights_holder: Text = ""
    redistribution_allowed: Flag = False


class Access(KfmModel):
    access_method: Text = "file"
    access_posture: Text = "public"


class Cadence(KfmModel):
    update_cadence: Literal["static", "append_only", "daily", "weekly", "monthly", "irregular"] = (
        "static"
    )


class ContentIdentity(KfmModel):
    content_sha256: Text

    @field_validator("content_sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST_RE.match(value):
            raise ValueError(f"content_sha256 {value[:80]!r} is not 'sha256:<64 lowercase hex>'")
        return value


class SourceHead(KfmModel):
    content_identity: ContentIdentity
    version: Text = "1"
    predecessor_version: Text | None = None


class SourceManifest(KfmModel):
    """A source as KFM describes it: rights, access, cadence, checksum, flags, watermark.

    Strict like every governance document: rights and sensitivity are exact enum values,
    ``redistribution_allowed`` a JSON/YAML boolean, the watermark a real day.
    """

    schema_version: Literal["1"] = "1"
    source_id: Text = Field(pattern=r"^[a-z][a-z0-9_-]{1,63}$")
    title: Text
    rights: Rights
    access: Access = Access()
    cadence: Cadence = Cadence()
    sensitivity_default: Sensitivity = "unknown_review_required"
    source_head: SourceHead
    flags: GovernanceFlags | None = None
    path: Text = Field(default="", description="raw file, relative to the repository root")
    watermark: Text | None = Field(default=None, description="last day (YYYY-MM-DD) covered")

    @field_validator("watermark")
    @classmethod
    def _day(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            if len(value) != 10:
                raise ValueError(value)
            dt.date.fromisoformat(value)
        except ValueError as err:
            raise ValueError(f"watermark {value[:40]!r} is not a YYYY-MM-DD day") from err
        return value
