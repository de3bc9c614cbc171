"""``build_engine``: the policy engine a command asked for (``--engine embedded|opa``)."""

from __future__ import annotations

from typing import Literal

from kfm_gate.errors import ConfigError
from kfm_gate.policy.bundle import PolicySet
from kfm_gate.policy.engine import PolicyEngine

ENGINE_NAMES = ("embedded", "opa")
EngineName = Literal["embedded", "opa"]
#: seconds an OPA server may take to answer one request before the gate gives ``error``
DEFAULT_OPA_TIMEOUT_S = 2.0


def build_engine(
    name: str,
    *,
    policies: PolicySet,
    opa_url: str | None = None,
    timeout_s: float = DEFAULT_OPA_TIMEOUT_S,
    opa_mode: str = "push",
    bundle_name: str | None = None,
) -> PolicyEngine:
    """The engine ``name`` over ``policies``.

    ``embedded`` compiles the policies in-process now (PolicyCompileError on bad Rego).
    ``opa`` needs ``opa_url``; it contacts the server only on first evaluation, so a server
    that is down gives outcome ``error`` with a run record instead of a failed command.
    """
    if name == "embedded":
        from kfm_gate.policy.engine import EmbeddedOpaEngine

        return EmbeddedOpaEngine(policies)
    if name == "opa":
        if not opa_url:
            raise ConfigError("--engine opa needs --opa-url URL (e.g. http://127.0.0.1:8181)")
        from kfm_gate.policy.server import MODES, OpaServerEngine

        if opa_mode not in MODES:
            raise ConfigError(
                f"OPA server mode {opa_mode!r} is unknown; use one of {', '.join(MODES)}"
            )
        return OpaServerEngine(
            policies,
            url=opa_url,
            mode="push" if opa_mode == "push" else "bundle",
            timeout_s=timeout_s,
            bundle_name=bundle_name,
        )
    raise ConfigError(f"--engine {name!r} is unknown; use one of {', '.join(ENGINE_NAMES)}")
