"""Policy engines (embedded OPA, OPA server), the policy set and its tests."""

from __future__ import annotations

from kfm_gate.policy.bundle import PolicySet, load_policy_set
from kfm_gate.policy.engine import EmbeddedOpaEngine, PolicyEngine

__all__ = ["EmbeddedOpaEngine", "PolicyEngine", "PolicySet", "load_policy_set"]
