"""What the gate hands to collectors and obligation engines, and their two protocols.

A :class:`Collector` reads the candidate and the public view and returns one
:class:`~kfm_gate.models.EvidenceSection`. An :class:`ObligationEngine` applies obligations of
the kinds it handles to the files of the public view, in place, and returns a report that is
stored (without any sensitive value) under ``evidence.obligations``. Verification is a
collector's job, not the engine's: the policy never trusts an engine's word that it worked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kfm_gate.models import EvidenceSection, GovernanceFlags, Obligation, PromotionRequest


@dataclass(frozen=True)
class ViewFile:
    """One output: the candidate file and its public-view copy."""

    relpath: str  # as in the request, relative to the repository root
    candidate: Path  # absolute path of the candidate
    public: Path  # absolute path of the public-view copy (inside the run's staging folder)
    media_type: str
    role: str


@dataclass(frozen=True)
class GateContext:
    """Everything a collector or obligation engine may read about one run."""

    request: PromotionRequest
    root: Path  # repository root
    run_id: str
    files: tuple[ViewFile, ...]
    flags: GovernanceFlags | None
    geo: Mapping[str, Any] = field(default_factory=dict)  # geo context given to the policy
    obligations: tuple[Obligation, ...] = ()
    applied: Mapping[str, Any] = field(default_factory=dict)  # obligation engine reports
    settings: Mapping[str, Any] = field(default_factory=dict)  # resolved gate settings
    policy_dir: Path | None = None

    def log(self, message: str) -> None:
        """Append a line to the run log (set by the gate; a no-op until then)."""
        sink = self.settings.get("_log")
        if callable(sink):
            sink(message)


@runtime_checkable
class Collector(Protocol):
    """Produces one evidence section. Raising means the evidence is unresolved: outcome error."""

    name: str

    def collect(self, ctx: GateContext) -> EvidenceSection: ...


@runtime_checkable
class ObligationEngine(Protocol):
    """Applies the obligations of ``kinds`` to the public view, in place."""

    name: str
    kinds: frozenset[str]

    def apply(self, ctx: GateContext, obligations: tuple[Obligation, ...]) -> dict[str, Any]: ...
