"""What the pipeline's promotion, catalog and graph assets do, without Dagster.

The gate check only gates; the ``published`` asset asks the publisher
(:mod:`kfm_gate.publication`) to promote the partition's **current** request, which it does
only for a recorded allow of exactly that request (so a later run, a manual run of the
promotion asset alone, or automation can never publish a partition whose latest decision is
not an allow); the catalog and graph assets report what the publisher wrote.
"""

from __future__ import annotations

from pathlib import Path

from kfm_gate.errors import InputError, PublicationRefusedError
from kfm_gate.gate import Gate
from kfm_gate.models import PromotionRequest
from kfm_gate.policy.contract import parse_request
from kfm_gate.publication import Publication, PublicationState, Publisher

__all__ = [
    "PromotionRefusedError",
    "expected_run_id",
    "load_request",
    "promote",
    "published_state",
    "publisher_of",
]

#: the refusal of the promotion asset (the publisher's)
PromotionRefusedError = PublicationRefusedError


def load_request(path: Path) -> PromotionRequest:
    """The request a processing step wrote; InputError when it is missing or invalid."""
    if not path.is_file():
        raise InputError(
            f"no promotion request at {path}: materialize the processing asset of this "
            "partition first"
        )
    return parse_request(path.read_bytes())


def expected_run_id(gate: Gate, request: PromotionRequest) -> str:
    """The gate run id of ``request`` under the gate's current policy set."""
    return gate.run_id_for(request)


def publisher_of(gate: Gate) -> Publisher:
    """The publisher of the gate's repository (sharing its run store)."""
    return Publisher(gate.layout, store=gate.store)


def promote(gate: Gate, request: PromotionRequest) -> Publication:
    """Publish the recorded allow of ``request`` (PublicationRefusedError otherwise)."""
    return publisher_of(gate).publish(request, expected_run_id(gate, request))


def published_state(gate: Gate, request: PromotionRequest) -> PublicationState:
    """The partition's publication state, which must be the publication of the allow
    recorded for ``request`` (PublicationRefusedError otherwise)."""
    publisher = publisher_of(gate)
    record = publisher.allowed(request, expected_run_id(gate, request))
    state = publisher.state(request)
    part = f"{request.partition.aoi_key}|{request.partition.time_key}"
    if state is None or not state.published:
        raise PublicationRefusedError(
            f"partition {part} is not published: materialize the promotion asset first"
        )
    if state.decision_id != record.decision.decision_id:
        raise PublicationRefusedError(
            f"partition {part}: the publication is of decision {state.decision_id}, not of the "
            f"allowed {record.decision.decision_id}; re-run the promotion"
        )
    return state
