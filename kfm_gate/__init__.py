"""kfm-gate: the governance gate of the Kansas Frontier Matrix data pipelines.

The public API is what ``__all__`` lists (locked by a test). Heavy libraries (dagster, great
expectations, presidio, spacy, rdflib, pystac) are imported only where they are used.
"""

from __future__ import annotations

from kfm_gate.context import Collector, GateContext, ObligationEngine, ViewFile
from kfm_gate.errors import (
    CollectorError,
    ConfigError,
    InputError,
    KfmGateError,
    LedgerError,
    LockError,
    ObligationError,
    PartitionKeyError,
    PathError,
    PolicyCompileError,
    PolicyEngineUnavailableError,
    PolicyError,
    PolicyEvalError,
    RecordError,
)
from kfm_gate.gate import Gate, GateRun, GateSettings, build_gate
from kfm_gate.models import (
    Aoi,
    Decision,
    Evidence,
    EvidenceSection,
    GovernanceFlags,
    InputRef,
    Obligation,
    OutputRef,
    Partition,
    PromotionRequest,
    SourceManifest,
    Violation,
    Waiver,
    join_flags,
)
from kfm_gate.policy import EmbeddedOpaEngine, PolicyEngine, PolicySet, load_policy_set
from kfm_gate.policy.contract import parse_request

__version__ = "0.1.0"

__all__ = [
    "Aoi",
    "Collector",
    "CollectorError",
    "ConfigError",
    "Decision",
    "EmbeddedOpaEngine",
    "Evidence",
    "EvidenceSection",
    "Gate",
    "GateContext",
    "GateRun",
    "GateSettings",
    "GovernanceFlags",
    "InputError",
    "InputRef",
    "KfmGateError",
    "LedgerError",
    "LockError",
    "Obligation",
    "ObligationEngine",
    "ObligationError",
    "OutputRef",
    "Partition",
    "PartitionKeyError",
    "PathError",
    "PolicyCompileError",
    "PolicyEngine",
    "PolicyEngineUnavailableError",
    "PolicyError",
    "PolicyEvalError",
    "PolicySet",
    "PromotionRequest",
    "RecordError",
    "SourceManifest",
    "ViewFile",
    "Violation",
    "Waiver",
    "__version__",
    "build_gate",
    "join_flags",
    "load_policy_set",
    "parse_request",
]
