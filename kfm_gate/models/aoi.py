"""Areas of interest: registry entries that partition keys refer to."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kfm_gate.models.base import KfmModel, Text
from kfm_gate.models.flags import GovernanceFlags


class Aoi(KfmModel):
    """One AOI of the registry (geometry lives in the registry's GeoJSON, not here)."""

    schema_version: Literal["1"] = "1"
    aoi_id: Text = Field(pattern=r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$")
    name: Text
    kind: Literal["county", "survey_grid", "project"] = "county"
    flags: GovernanceFlags | None = None
    bbox: tuple[float, float, float, float] | None = None
