"""Obligations, violations and the decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from kfm_gate.ids import CODE_RE, decision_id
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


#: fields of a decision that its id does not cover: the id itself, the model's schema version
#: and what an OPA server reported about its own evaluation (provenance, not content)
_OUTSIDE_ID = ("decision_id", "schema_version", "engine_decision_ids", "engine_revision")


def build_decision(
    *,
    run_id: str,
    outcome: str,
    partition: Mapping[str, str],
    asset_key: str,
    request_digest: str,
    evidence_digest: str,
    policy_digest: str,
    engine: str,
    day: dt.date,
    violations: Iterable[Violation] = (),
    warnings: Iterable[Violation] = (),
    waived: Iterable[Waived] = (),
    obligations: Iterable[Obligation] = (),
    reasons: Iterable[str] = (),
    error: str | None = None,
    engine_decision_ids: Mapping[str, str] | None = None,
    engine_revision: str | None = None,
) -> Decision:
    """The one place a Decision is assembled: the KFM outcome and the lifecycle stage derive
    from ``outcome``, ``evaluated_at`` from the evaluation day, and the decision id is a digest
    of the run id and everything else in the decision (:func:`decision_body`)."""
    body: dict[str, Any] = {
        "outcome": outcome,
        "kfm_outcome": KFM_OUTCOME[outcome],
        "lifecycle_stage": LIFECYCLE[outcome],
        "run_id": run_id,
        "partition": dict(partition),
        "asset_key": asset_key,
        "violations": [v.to_json_dict() for v in violations],
        "warnings": [w.to_json_dict() for w in warnings],
        "waived": [w.to_json_dict() for w in waived],
        "obligations": [o.to_json_dict() for o in obligations],
        "reason_codes": list(reasons),
        "policy_digest": policy_digest,
        "engine": engine,
        "evaluated_at": f"{day.isoformat()}T00:00:00Z",
        "request_digest": request_digest,
        "evidence_digest": evidence_digest,
        "error": error,
    }
    body["decision_id"] = decision_id(run_id, body)
    if engine_decision_ids:
        body["engine_decision_ids"] = dict(engine_decision_ids)
    if engine_revision:
        body["engine_revision"] = engine_revision
    return Decision.model_validate(body)


def decision_body(decision: Decision) -> dict[str, Any]:
    """What a decision's id is the digest of (with its run id)."""
    doc = decision.to_json_dict()
    for name in _OUTSIDE_ID:
        doc.pop(name, None)
    return doc


def decision_id_matches(decision: Decision) -> bool:
    """Whether the decision's id is the digest of its content: False for a decision edited
    after it was taken (or built anywhere but :func:`build_decision`)."""
    if KFM_OUTCOME.get(decision.outcome) != decision.kfm_outcome:
        return False
    if LIFECYCLE.get(decision.outcome) != decision.lifecycle_stage:
        return False
    return decision_id(decision.run_id, decision_body(decision)) == decision.decision_id
