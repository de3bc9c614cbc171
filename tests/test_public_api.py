from __future__ import annotations

import kfm_gate

LOCKED = [
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


def test_all_is_sorted_and_locked() -> None:
    assert kfm_gate.__all__ == sorted(kfm_gate.__all__)
    assert kfm_gate.__all__ == LOCKED
    for name in kfm_gate.__all__:
        assert hasattr(kfm_gate, name), name


def test_every_error_derives_from_the_root() -> None:
    for name in kfm_gate.__all__:
        obj = getattr(kfm_gate, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, kfm_gate.KfmGateError), name
