"""``build_engine``: the policy engine a command asked for (``--engine embedded|opa``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Literal

from kfm_gate.errors import ConfigError
from kfm_gate.policy.bundle import PolicySet
from kfm_gate.policy.engine import (
    DECISION_PATH,
    OBLIGATIONS_PATH,
    EmbeddedOpaEngine,
    PolicyEngine,
)

ENGINE_NAMES = ("embedded", "opa")
EngineName = Literal["embedded", "opa"]
#: seconds an OPA server may take to answer one request before the gate gives ``error``
DEFAULT_OPA_TIMEOUT_S = 2.0
#: compiled embedded engines kept per process (one per policy digest, most recent first)
SHARED_ENGINES_MAX = 4

_shared: OrderedDict[str, EmbeddedOpaEngine] = OrderedDict()
_shared_lock = threading.Lock()


def shared_embedded_engine(policies: PolicySet) -> EmbeddedOpaEngine:
    """The process's compiled embedded engine for ``policies`` (keyed by the policy digest).

    Compiling the council's policy set and preparing its two queries costs ~60 ms; gates of
    the same process with the same policies (every partition of a pipeline run, the gates a
    Dagster resource builds) share one engine instead. The digest covers every module and
    data file, so an edited policy set gets its own engine. Evaluation is serialized by the
    engine's lock. Callers must not close a shared engine; an engine dropped from the cache
    is freed by the garbage collector once no gate holds it. A compile error is not cached.
    """
    key = policies.digest
    with _shared_lock:
        found = _shared.get(key)
        if found is not None:
            _shared.move_to_end(key)
            return found
        engine = EmbeddedOpaEngine(policies, prepare=(OBLIGATIONS_PATH, DECISION_PATH))
        _shared[key] = engine
        while len(_shared) > SHARED_ENGINES_MAX:
            _shared.popitem(last=False)
        return engine


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
