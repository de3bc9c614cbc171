"""``build_engine``: the policy engine a command asked for (``--engine embedded|opa``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Literal

from kfm_gate.errors import ConfigError
from kfm_gate.limits import LIMITS
from kfm_gate.policy.bundle import PolicySet
from kfm_gate.policy.engine import PolicyEngine, check_sections
from kfm_gate.policy.worker import ProcessOpaEngine

ENGINE_NAMES = ("embedded", "opa")
EngineName = Literal["embedded", "opa"]
#: seconds an OPA server may take for one whole call before the gate gives ``error``
DEFAULT_OPA_TIMEOUT_S = LIMITS.opa_call_s
#: compiled embedded engines kept per process (one per policy digest, most recent first)
SHARED_ENGINES_MAX = 4

_shared: OrderedDict[tuple[str, float], ProcessOpaEngine] = OrderedDict()
_shared_lock = threading.Lock()


def shared_embedded_engine(
    policies: PolicySet, *, deadline_s: float = LIMITS.policy_eval_s
) -> ProcessOpaEngine:
    """The process's compiled embedded engine for ``policies`` (keyed by the policy digest).

    It evaluates in a child process, each evaluation within ``deadline_s``
    (:mod:`kfm_gate.policy.worker`). Compiling the council's policy set and starting the child
    costs ~0.25 s; gates of the same process with the same policies (every partition of a
    pipeline run, the gates a Dagster resource builds) share one engine instead. The digest
    covers every module and data file, so an edited policy set gets its own engine.
    Evaluation is serialized by the engine's lock. Callers must not close a shared engine; an
    engine dropped from the cache is stopped. A compile error, or a policy set without a data
    section the rules need, is not cached.
    """
    check_sections(policies)
    key = (policies.digest, float(deadline_s))
    with _shared_lock:
        found = _shared.get(key)
        if found is not None:
            _shared.move_to_end(key)
            return found
        engine = ProcessOpaEngine(policies, deadline_s=deadline_s)
        _shared[key] = engine
        while len(_shared) > SHARED_ENGINES_MAX:
            _shared.popitem(last=False)[1].close()
        return engine


def build_engine(
    name: str,
    *,
    policies: PolicySet,
    opa_url: str | None = None,
    timeout_s: float | None = None,
    opa_mode: str = "push",
    bundle_name: str | None = None,
) -> PolicyEngine:
    """The engine ``name`` over ``policies``.

    ``embedded`` compiles the policies now (PolicyCompileError on bad Rego) in the child
    process that evaluates them within ``timeout_s`` each. ``opa`` needs ``opa_url``; it
    contacts the server only on first evaluation, so a server that is down gives outcome
    ``error`` with a run record instead of a failed command; each call to it (all its reads
    included) has ``timeout_s``. Both refuse a policy set that lacks a data section the
    rules need.
    """
    if timeout_s is None:
        timeout_s = LIMITS.policy_eval_s if name == "embedded" else DEFAULT_OPA_TIMEOUT_S
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or timeout_s <= 0:
        raise ConfigError(f"timeout {timeout_s!r} s must be a positive number of seconds")
    if name in ENGINE_NAMES:
        check_sections(policies)
    if name == "embedded":
        return ProcessOpaEngine(policies, deadline_s=float(timeout_s))
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
            timeout_s=float(timeout_s),
            bundle_name=bundle_name,
        )
    raise ConfigError(f"--engine {name!r} is unknown; use one of {', '.join(ENGINE_NAMES)}")
