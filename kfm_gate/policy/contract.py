"""The contract between the gate and the council's Rego: the two input documents and how the
two answers are read back (``docs/policy-input.md``).

One place builds the phase-1 input (``data.kfm.gate.obligations``) and the phase-2 input
(``data.kfm.gate.decision``), joins the effective flags, and parses obligations and decisions.
The gate uses it to decide, ``policy impact`` to replay recorded runs: both send the policy
exactly the same documents.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from kfm_gate.errors import InputError, PolicyEvalError
from kfm_gate.models import (
    Evidence,
    GovernanceFlags,
    Obligation,
    PromotionRequest,
    Violation,
    Waived,
    join_flags,
)

#: the outcomes a policy may answer (``error`` is the gate's own)
POLICY_OUTCOMES = ("allow", "deny", "quarantine")
#: ``flags_missing`` when the request has no input at all
NO_INPUTS = "<no inputs>"


def parse_request(raw: bytes | str | Mapping[str, Any] | PromotionRequest) -> PromotionRequest:
    """A PromotionRequest from bytes, text, a dict or a request, read within the limits of
    :data:`kfm_gate.limits.LIMITS`; InputError (LimitError for a limit) naming every invalid
    field and its expected type."""
    if isinstance(raw, PromotionRequest):
        return raw
    return PromotionRequest.from_raw(raw)


# -- phase 1 -------------------------------------------------------------------------------


def effective_flags(
    request: PromotionRequest, extra: Iterable[GovernanceFlags] = ()
) -> tuple[GovernanceFlags | None, list[str]]:
    """The joined flags of the request's inputs and of ``extra`` (AOI, zones touched), each
    value keeping its origin, and the ids of the inputs without flags.

    ``None`` when nothing has flags or the request has no input (``flags_missing`` then says
    why): the policy treats missing flags as unresolved sensitivity.
    """
    parts = [i.flags.with_origin(f"input:{i.id}") for i in request.inputs if i.flags]
    parts.extend(extra)
    missing = sorted(i.id for i in request.inputs if i.flags is None)
    if not parts or not request.inputs:
        return None, missing or [NO_INPUTS]
    return join_flags(parts), missing


def evaluation_time(today: dt.date) -> dict[str, str]:
    """``now`` and ``today`` of both inputs: decisions are per UTC day."""
    return {"now": f"{today.isoformat()}T00:00:00Z", "today": today.isoformat()}


def policy_input(
    request: PromotionRequest,
    flags: GovernanceFlags | None,
    flags_missing: list[str],
    geo: Mapping[str, Any],
    today: dt.date,
) -> dict[str, Any]:
    """The phase-1 input document (``data.kfm.gate.obligations``)."""
    return {
        "request": request.to_json_dict(),
        "flags": None if flags is None else flags.to_json_dict(),
        "flags_missing": flags_missing,
        "geo": dict(geo),
        **evaluation_time(today),
    }


def input_day(base_input: Mapping[str, Any]) -> dt.date:
    """The evaluation day of a phase-1 input; InputError when it has none."""
    try:
        return dt.date.fromisoformat(str(base_input.get("today")))
    except ValueError as err:
        raise InputError(
            f"the policy input has no usable 'today' ({base_input.get('today')!r})"
        ) from err


def at_day(base_input: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
    """A phase-1 input evaluated on another day (``policy impact --as-of``)."""
    return {**base_input, **evaluation_time(today)}


# -- phase 2 -------------------------------------------------------------------------------


def evidence_input(evidence: Evidence | Mapping[str, Any]) -> dict[str, Any]:
    """The evidence document the policies read, ``{section: {status, collector, error,
    data...}}``, of collected evidence or of a recorded ``evidence.json``."""
    if not isinstance(evidence, Evidence):
        evidence = Evidence.model_validate(evidence)
    return evidence.to_policy_input()


def decision_extra(
    obligations: Iterable[Obligation] | Iterable[Mapping[str, Any]],
    evidence: Mapping[str, Any],
    waivers: list[dict[str, Any]],
) -> dict[str, Any]:
    """What phase 2 adds to the phase-1 input: the obligations the gate applied, the evidence
    (:func:`evidence_input`) and the active waivers of the evaluation day. No key of it is a
    key of the phase-1 input."""
    return {
        "obligations": [o.to_json_dict() if isinstance(o, Obligation) else o for o in obligations],
        "evidence": evidence,
        "waivers": waivers,
    }


def decision_input(
    base_input: Mapping[str, Any],
    obligations: Iterable[Obligation] | Iterable[Mapping[str, Any]],
    evidence: Mapping[str, Any],
    waivers: list[dict[str, Any]],
) -> dict[str, Any]:
    """The phase-2 input document (``data.kfm.gate.decision``): the phase-1 input and
    :func:`decision_extra` (``{**base, **extra}``: a replay that evaluates many cases at once
    sends the two parts and unions them, without converting the phase-1 input twice)."""
    return {**base_input, **decision_extra(obligations, evidence, waivers)}


# -- answers -------------------------------------------------------------------------------


def parse_obligations(raw: Any) -> tuple[Obligation, ...]:
    """Validate and order a phase-1 result; PolicyEvalError when it is not obligations."""
    if isinstance(raw, Mapping):
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise PolicyEvalError(
            f"data.kfm.gate.obligations must be an array of obligations, got {type(raw).__name__}"
        )
    try:
        obligations = [Obligation.model_validate(o) for o in raw]
    except ValidationError as err:
        raise PolicyEvalError(f"the policy returned a malformed obligation: {err}") from err
    # a deterministic order (params as sorted-key JSON break ties); no digest needed here
    return tuple(
        sorted(
            obligations,
            key=lambda o: (o.code, o.kind, o.rule, json.dumps(o.params, sort_keys=True)),
        )
    )


@dataclass(frozen=True)
class PolicyAnswer:
    """A phase-2 result as the gate records it: on ``quarantine`` the quarantine entries are
    among the violations; ``reasons`` are the codes of both, sorted."""

    outcome: str
    violations: tuple[Violation, ...]
    warnings: tuple[Violation, ...]
    waived: tuple[Waived, ...]
    reasons: tuple[str, ...]


def parse_decision(raw: Any) -> PolicyAnswer:
    """Validate a phase-2 result; PolicyEvalError when it is not a decision."""
    if not isinstance(raw, Mapping) or raw.get("outcome") not in POLICY_OUTCOMES:
        raise PolicyEvalError(
            "data.kfm.gate.decision must be an object with outcome allow|deny|quarantine, "
            f"got {json.dumps(raw, default=str)[:200]}"
        )
    try:
        violations = tuple(Violation.model_validate(v) for v in raw.get("violations") or [])
        warnings = tuple(Violation.model_validate(v) for v in raw.get("warnings") or [])
        quarantine = tuple(Violation.model_validate(v) for v in raw.get("quarantine") or [])
        waived = tuple(Waived.model_validate(w) for w in raw.get("waived") or [])
    except ValidationError as err:
        raise PolicyEvalError(f"the policy returned a malformed violation: {err}") from err
    outcome = str(raw["outcome"])
    reasons = tuple(sorted({v.code for v in violations} | {q.code for q in quarantine}))
    if outcome == "quarantine":
        violations = violations + quarantine
    return PolicyAnswer(outcome, violations, warnings, waived, reasons)


# -- what an engine may also report ----------------------------------------------------------


@runtime_checkable
class ReportsEngineIds(Protocol):
    """An engine that names each evaluation (an OPA server's decision id and bundle revision);
    kept in ``config.json`` and the decision, never in the decision id's digest."""

    @property
    def last_decision_id(self) -> str | None: ...

    @property
    def last_revision(self) -> str | None: ...


def note_engine_ids(engine: object, phase: str, config: dict[str, Any]) -> None:
    """Keep what an engine that :class:`ReportsEngineIds` said about its last evaluation."""
    if not isinstance(engine, ReportsEngineIds):
        return
    info = config.setdefault("engine", {})
    if engine.last_decision_id:
        info.setdefault("decision_ids", {})[phase] = str(engine.last_decision_id)
    if engine.last_revision:
        info["server_revision"] = str(engine.last_revision)
