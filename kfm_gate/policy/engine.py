"""The PolicyEngine protocol and the embedded engine (real OPA, in-process).

The embedded engine uses PyPI ``opa-golib-python-bindings``, which embeds the OPA Go library
through ctypes. It is alpha with one maintainer, so nothing outside this module imports it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from kfm_gate.errors import PolicyCompileError, PolicyError, PolicyEvalError
from kfm_gate.policy.bundle import PolicySet

OBLIGATIONS_PATH = "kfm.gate.obligations"
DECISION_PATH = "kfm.gate.decision"
_SECTION_REF = re.compile(r"\bdata\.kfm\.params\.([A-Za-z_][A-Za-z0-9_]*)")


def required_sections(policies: PolicySet) -> frozenset[str]:
    """The data sections (``policies/data/<name>.json`` = ``data.kfm.params.<name>``) the
    policy set's rules read."""
    return frozenset(
        name for source in policies.modules.values() for name in _SECTION_REF.findall(source)
    )


def check_sections(policies: PolicySet) -> None:
    """PolicyError naming every data section a rule reads that ``policies`` lacks (or holds
    as something other than an object): the rules it feeds would silently not apply."""
    missing = sorted(
        name
        for name in required_sections(policies)
        if not isinstance(policies.data.get(name), dict)
    )
    if missing:
        raise PolicyError(
            f"the policy set {policies.root} lacks data section(s) {', '.join(missing)} "
            "(policies/data/<name>.json) that its rules read; restore them: without them "
            "the rules they feed would silently not apply"
        )


_LOCATION = re.compile(r"(?P<loc>[^\s:]+\.rego:\d+)")


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates documents of the policy set; raises PolicyError subclasses on failure."""

    name: str

    @property
    def policy_digest(self) -> str: ...

    @property
    def revision(self) -> str: ...

    def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
        """The value of ``data.<path>`` for ``input_doc``; PolicyEvalError when undefined."""
        ...

    def close(self) -> None: ...


def _compile_error(err: Exception) -> PolicyCompileError:
    message = getattr(err, "message", str(err))
    found = _LOCATION.search(message)
    location = found.group("loc") if found else None
    lines = "; ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    return PolicyCompileError(
        f"policy does not compile: {lines}; fix the Rego (v1 syntax: 'if' before rule "
        "bodies, 'contains' for partial sets)",
        location=location,
    )


class PolicySetBacked:
    """What an engine over a :class:`PolicySet` reports about it (digest, bundle revision)."""

    _policies: PolicySet

    @property
    def policy_digest(self) -> str:
        return self._policies.digest

    @property
    def revision(self) -> str:
        """The bundle revision: the policy digest without its prefix."""
        return self._policies.revision

    @property
    def policies(self) -> PolicySet:
        return self._policies


class EmbeddedOpaEngine(PolicySetBacked):
    """OPA in-process. Modules and data are loaded and compiled once, then reused.

    The bindings compile the policy set for each distinct query on its first evaluation, so
    the constructor forces one compilation to surface errors at load time: of a throw-away
    query, or of the documents named in ``prepare`` (which are then ready to evaluate).
    """

    name = "embedded-opa"

    def __init__(
        self, policies: PolicySet, *, include_tests: bool = False, prepare: Sequence[str] = ()
    ) -> None:
        from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

        self._error_type: type[Exception] = OpaError
        self._policies = policies
        self._lock = threading.Lock()
        self._opa = OpaEngine()
        try:
            modules = dict(policies.modules)
            if include_tests:
                modules.update(policies.tests)
            for rel, source in sorted(modules.items()):
                self._opa.add_policy(rel, source)
            self._opa.add_data(policies.data, path="kfm.params")
            # OPA compiles lazily: force compilation now so errors surface at load time.
            if not prepare:
                self._opa.eval_query("x = true")
            for path in prepare:
                try:
                    self._opa.eval_document(path)
                except OpaUndefinedError:
                    pass  # compiled; undefined without an input
                except OpaError as err:
                    if err.code != "eval_error":
                        raise
        except OpaError as err:
            self._opa.close()
            raise _compile_error(err) from err

    def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
        from opa_bindings import OpaUndefinedError

        try:
            with self._lock:
                return self._opa.eval_document(path, input_doc)
        except OpaUndefinedError as err:
            raise PolicyEvalError(
                f"data.{path} is undefined for this input: the policy set must always define it "
                "(check the package name and that a default rule exists)"
            ) from err
        except self._error_type as err:
            raise PolicyEvalError(f"evaluating data.{path} failed: {err}") from err

    def query(self, query: str, *, coverage: bool = False) -> tuple[list[dict[str, Any]], Any]:
        """Run a raw query (policy tests); returns the bindings and the coverage report."""
        try:
            with self._lock:
                result = self._opa.eval_query(query, coverage=coverage)
                return list(result), self._opa.last_coverage
        except self._error_type as err:
            raise PolicyEvalError(f"query {query!r} failed: {err}") from err

    def close(self) -> None:
        self._opa.close()

    def __enter__(self) -> EmbeddedOpaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
