"""Waivers (``policies/waivers/*.yml``): a council decision to set rules aside for a scope."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from kfm_gate.models.base import KfmModel


class WaiverScope(KfmModel):
    asset: str = Field(description="asset key, or '*' for every asset")
    aois: tuple[str, ...] = Field(default=(), description="AOI ids; empty = every AOI")
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None
    rules: tuple[str, ...] = Field(min_length=1, description="rule ids or reason codes")

    @model_validator(mode="after")
    def _range(self) -> WaiverScope:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError(f"scope.from {self.from_} is after scope.to {self.to}")
        return self


class Waiver(KfmModel):
    schema_version: Literal["1"] = "1"
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,63}$")
    scope: WaiverScope
    reason: str = Field(min_length=3)
    approver: str = Field(min_length=2)
    created: dt.date
    expires: dt.date

    @model_validator(mode="after")
    def _dates(self) -> Waiver:
        if self.expires < self.created:
            raise ValueError(
                f"waiver {self.id}: expires {self.expires} is before created {self.created}"
            )
        return self

    def status(self, today: dt.date) -> Literal["active", "expired", "not_yet_valid"]:
        """Same rule as policies/kfm/gate/waivers.rego (the policy decides; this is for listing)."""
        if today < self.created:
            return "not_yet_valid"
        if today > self.expires:
            return "expired"
        return "active"
