"""Obligations, violations and the decision."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from kfm_gate.ids import CODE_RE
from kfm_gate.models.base import KfmModel

Outcome = Literal["allow", "deny", "quarantine", "error"]
Severity = Literal["critical", "high", "medium", "low", "info"]

#: kfm-gate outcome -> KFM runtime outcome
KFM_OUTCOME: dict[str, str] = {
    "allow": "ANSWER",
    "deny": "DENY",
    "quarantine": "ABSTAIN",
    "error": "ERROR",
}
#: kfm-gate outcome -> KFM lifecycle stage after the gate
LIFECYCLE: dict[str, str] = {
    "allow": "PUBLISHED",
    "deny": "PROCESSED",
    "quarantine": "QUARANTINE",
    "error": "PROCESSED",
}


def _code(value: str) -> str:
    if not CODE_RE.match(value):
        raise ValueError(f"code {value!r} must match {CODE_RE.pattern}")
    return value


class Obligation(KfmModel):
    """What must happen before publication (phase 1 of the policy)."""

    code: str = Field(description="obligation code, e.g. GENERALIZE_GEOMETRY")
    kind: Literal["generalize", "redact", "suppress", "embargo", "review", "notice"]
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    rule: str = ""
    sources: tuple[str, ...] = ()

    _check_code = field_validator("code")(classmethod(lambda cls, v: _code(v)))


class Violation(KfmModel):
    """One reason a partition may not be promoted as it is."""

    rule: str
    code: str = Field(description="reason code, e.g. PUBLIC_PRECISION_UNSAFE")
    msg: str
    severity: Severity = "high"
    details: dict[str, Any] = Field(default_factory=dict)

    _check_code = field_validator("code")(classmethod(lambda cls, v: _code(v)))


class Waived(KfmModel):
    """A violation a waiver set aside, with the waiver that did it."""

    waiver_id: str
    rule: str
    code: str
    msg: str
    approver: str = ""
    expires: str = ""


class Decision(KfmModel):
    """The gate's answer for one run. A denial is data, not an exception."""

    schema_version: Literal["1"] = "1"
    outcome: Outcome
    kfm_outcome: str
    lifecycle_stage: str
    run_id: str
    decision_id: str
    partition: dict[str, str]
    asset_key: str
    violations: tuple[Violation, ...] = ()
    warnings: tuple[Violation, ...] = ()
    waived: tuple[Waived, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    reason_codes: tuple[str, ...] = ()
    policy_digest: str
    engine: str
    evaluated_at: str
    request_digest: str
    evidence_digest: str
    error: str | None = None
    #: an OPA server's own decision ids per phase and the bundle revision it reported
    #: (empty for the embedded engine); not part of the decision id digest
    engine_decision_ids: dict[str, str] = Field(default_factory=dict)
    engine_revision: str | None = None

    @property
    def promotable(self) -> bool:
        """Only ``allow`` promotes."""
        return self.outcome == "allow"

    @property
    def exit_code(self) -> int:
        """0 allow; 1 deny, quarantine or error (the command itself ran)."""
        return 0 if self.outcome == "allow" else 1
