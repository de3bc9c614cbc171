"""Waivers (``policies/waivers/*.yml``): a council decision to set rules aside for a scope.

The model checks what a waiver says on its own (strict types, real days, a reason and an
approver that are not blank once trimmed); :func:`kfm_gate.policy.waivers.waiver_problems`
checks it against the council's policy data (roster, waivable rule ids, the rules of the
policy set).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kfm_gate.models.base import Day, KfmModel, Text


def _meaningful(value: str, what: str, minimum: int) -> str:
    stripped = value.strip()
    if sum(c.isalnum() for c in stripped) < minimum:
        raise ValueError(
            f"{what} {value!r} is blank or has no words once trimmed (at least {minimum} "
            "letters or digits)"
        )
    return stripped


class WaiverScope(KfmModel):
    asset: Text = Field(description="asset key, or '*' for every asset")
    aois: tuple[Text, ...] = Field(default=(), description="AOI ids; empty = every AOI")
    from_: Day | None = Field(default=None, alias="from")
    to: Day | None = None
    rules: tuple[Text, ...] = Field(min_length=1, description="waivable rule ids")

    @model_validator(mode="after")
    def _range(self) -> WaiverScope:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError(f"scope.from {self.from_} is after scope.to {self.to}")
        return self


class Waiver(KfmModel):
    schema_version: Literal["1"] = "1"
    id: Text = Field(pattern=r"^[a-z][a-z0-9_.-]{1,63}$")
    scope: WaiverScope
    reason: Text = Field(min_length=3)
    approver: Text = Field(min_length=2, description="id of a member of the council roster")
    created: Day
    expires: Day

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _meaningful(value, "reason", 3)

    @field_validator("approver")
    @classmethod
    def _approver(cls, value: str) -> str:
        return _meaningful(value, "approver", 2)

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
