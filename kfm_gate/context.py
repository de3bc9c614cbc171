"""What the gate hands to collectors and obligation engines, and their two protocols.

A :class:`Collector` reads the candidate and the public view and returns one
:class:`~kfm_gate.models.EvidenceSection`. An :class:`ObligationEngine` applies obligations of
the kinds it handles to the files of the public view, in place, and returns a report that is
stored (without any sensitive value) under ``evidence.obligations``. Verification is a
collector's job, not the engine's: the policy never trusts an engine's word that it worked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

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
    #: run-scoped memo shared by the collectors and obligation engines of this run only: pure
    #: results keyed by their inputs (e.g. recognizer results per distinct value), never a
    #: decision; it is dropped with the context when the run ends
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: table columns whose values obligation engines have yet to change (empty once they ran);
    #: ``None``: the view may still change in any way. See :class:`StartsEarly`.
    changing_columns: frozenset[str] | None = frozenset()
    #: where :meth:`log` lines go: the run log of the gate (nowhere when not given)
    logger: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    @property
    def policies(self) -> Path:
        """The council's policy folder: ``policy_dir``, else ``<root>/policies``."""
        return self.policy_dir if self.policy_dir is not None else self.root / "policies"

    def log(self, message: str) -> None:
        """Append a line to the run log (``logger``, given by the gate)."""
        if self.logger is not None:
            self.logger(message)


T = TypeVar("T")


def memo_file(memo: dict[str, Any] | None, kind: str, path: Path, load: Callable[[], T]) -> T:
    """``load()``, once per run for ``path`` as it is now: the result is kept in the run's
    ``memo`` under ``kind``, the path and the file's size and modification time.

    Within one run files are only rewritten by obligation engines before collection starts,
    so size and modification time identify the content. Callers must not modify the result.
    Without a memo, or when the file cannot be stat'ed, ``load()`` runs (and gives its own
    error).
    """
    if memo is None:
        return load()
    try:
        st = path.stat()
    except OSError:
        return load()
    key = f"{kind}:{path}|{st.st_size}|{st.st_mtime_ns}"
    if key not in memo:
        memo[key] = load()
    found: T = memo[key]
    return found


@runtime_checkable
class Collector(Protocol):
    """Produces one evidence section. Raising means the evidence is unresolved: outcome error.

    A collector that can work in the background also is a :class:`StartsEarly`.
    """

    name: str

    def collect(self, ctx: GateContext) -> EvidenceSection: ...


@runtime_checkable
class StartsEarly(Protocol):
    """A collector whose work can go on in the background (another process).

    The gate calls ``start(ctx)`` before the other collectors run; ``None`` means "call
    ``collect`` as usual". When the obligations only change the values of some table columns,
    the gate first calls ``start`` before applying them, with those columns in
    ``ctx.changing_columns``: a collector whose evidence does not depend on them may start
    then (the public view may be read before or after the change), otherwise it returns
    ``None`` and is started again after the obligations.
    """

    name: str

    def start(self, ctx: GateContext) -> PendingSection | None: ...


@runtime_checkable
class PendingSection(Protocol):
    """Evidence being collected in the background (see :class:`Collector`)."""

    def result(self, timeout: float | None = None) -> EvidenceSection:
        """The section; raises like ``collect``, or TimeoutError past ``timeout`` seconds."""
        ...

    def cancel(self) -> None:
        """Stop the background work (the run failed or timed out)."""
        ...


@runtime_checkable
class ObligationEngine(Protocol):
    """Applies the obligations of ``kinds`` to the public view, in place.

    An engine that can say which table columns it changes also is a :class:`ChangesColumns`;
    any other may change anything (rows, columns, geometry, files).
    """

    name: str
    kinds: frozenset[str]

    def apply(self, ctx: GateContext, obligations: tuple[Obligation, ...]) -> dict[str, Any]: ...


@runtime_checkable
class ChangesColumns(Protocol):
    """An obligation engine that knows what applying an obligation changes."""

    def changed_columns(self, obligation: Obligation) -> frozenset[str] | None:
        """The table columns whose values (only) applying ``obligation`` may change;
        ``None``: it may change anything."""
        ...
