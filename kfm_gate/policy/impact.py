"""Policy impact: replay every recorded decision under two policy sets and list what flips.

A council pull request edits ``policies/``. Before it merges, ``kfm-gate policy impact --base
REV`` answers "which partitions would get another outcome?": for every run recorded under
``mcp/runs/`` it rebuilds the two policy inputs of that run, evaluates both phases under the
base policies (``git archive REV -- policies``) and under the working tree's, and lists each
partition whose outcome differs (partition, before, after, the rules that appeared or went).

Where the inputs come from, per run:

``policy_input.json`` (preferred)
    ``{"schema_version": "1", "obligations": <phase-1 input>, "decision": <phase-2 input>}``,
    written by the gate beside the decision. Replay takes the phase-1 input as it was and the
    evidence of the phase-2 input; obligations and waivers come from each policy set.
reconstructed
    Older runs: the phase-1 input is rebuilt from ``request.json`` (flags joined as the gate
    joins them, without AOI / sensitive-zone flags, which are not recorded) and the day of
    ``decision.json``; the evidence from ``evidence.json``. Such runs are marked in reports.

Runs that cannot be replayed are skipped with a reason: a rejected request, a run that
stopped before phase 2 (recorded outcome ``error``), evidence with an unresolved section
(``error`` under any policy). Identical inputs (same request, evidence and day) recorded under
several policy digests are replayed once.

Replay cannot re-run collectors: when the two policy sets ask for different obligations, the
recorded evidence still describes the view built for the original ones. Such cases are marked
``obligations changed``.

Speed: a run recorded from ``policy_input.json`` under the very policy digest of one side (usually
the base) already holds that side's answer: the replay input is the recorded input (same phase-1
input, same evidence, same day; obligations and waivers come from the same policy set), so the
recorded decision is reused for that side instead of evaluated again. A spread sample of the
reused cases is still evaluated, and any difference turns reuse off for the whole report. Cases
that must be evaluated go through both phases with inputs built by
:mod:`kfm_gate.policy.contract` exactly as the gate builds them, a batch of cases per engine
call: phase 1 of every case and phase 2 of every case built with the obligations it recorded,
in one call; a case whose phase-1 result differs from those obligations gets phase 2 again with
its own, in a second call. Two threads evaluate, with an engine of each policy set they meet;
they start while the run folders are still being read (runs are handed out 128 at a time; the
engines compile meanwhile, each for the one query it runs).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from kfm_gate.errors import InputError, KfmGateError, PolicyError, RecordError
from kfm_gate.policy import contract
from kfm_gate.policy.bundle import PolicySet, load_policy_set
from kfm_gate.policy.engine import (
    DECISION_PATH,
    OBLIGATIONS_PATH,
    EmbeddedOpaEngine,
    PolicyEngine,
)
from kfm_gate.runs import RecordedRun

#: the file the gate writes with both phase inputs (see the module docstring)
POLICY_INPUT_FILE = "policy_input.json"
OUTCOMES = ("allow", "deny", "quarantine")
InputSource = Literal["recorded", "reconstructed"]


@dataclass(frozen=True)
class ReplayCase:
    """One recorded decision input, ready to evaluate under any policy set."""

    run: str  # run folder name
    run_id: str
    asset_key: str
    aoi_key: str
    time_key: str
    today: dt.date
    base_input: dict[str, Any]
    evidence: dict[str, Any]
    recorded_outcome: str
    source: InputSource
    #: the policy digest the run was decided under
    policy_digest: str = ""
    #: the recorded decision as a replay result (only for recorded inputs that reached an outcome)
    recorded: ReplayResult | None = None
    #: the obligations the gate gave phase 2 (recorded inputs only)
    obligations: list[dict[str, Any]] | None = None

    @property
    def partition(self) -> str:
        return f"{self.asset_key} {self.aoi_key}|{self.time_key}"


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of one case under one policy set."""

    outcome: str  # allow | deny | quarantine | error
    rules: tuple[str, ...] = ()  # rules of blocking / quarantine violations, sorted
    codes: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    waived: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Flip:
    """A partition whose outcome differs between the base and the working policies."""

    case: ReplayCase
    before: ReplayResult
    after: ReplayResult

    @property
    def rules_added(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.after.rules) - set(self.before.rules)))

    @property
    def rules_removed(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.before.rules) - set(self.after.rules)))

    @property
    def obligations_changed(self) -> bool:
        return self.before.obligations != self.after.obligations

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "partition": self.case.partition,
            "asset_key": self.case.asset_key,
            "aoi_key": self.case.aoi_key,
            "time_key": self.case.time_key,
            "run": self.case.run,
            "before": self.before.outcome,
            "after": self.after.outcome,
            "rules_added": list(self.rules_added),
            "rules_removed": list(self.rules_removed),
            "codes_before": list(self.before.codes),
            "codes_after": list(self.after.codes),
            "obligations_changed": self.obligations_changed,
            "input": self.case.source,
            "errors": [e for e in (self.before.error, self.after.error) if e],
        }


@dataclass
class ImpactReport:
    """Everything ``policy impact`` found."""

    base_label: str
    head_label: str
    base_digest: str
    head_digest: str
    runs_seen: int = 0
    replayed: int = 0
    duplicates: int = 0
    reconstructed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    changed_same_outcome: int = 0
    #: (side, case) answers taken from the recorded decision instead of evaluated
    reused: int = 0
    duration_s: float = 0.0

    @property
    def same_policies(self) -> bool:
        return self.base_digest == self.head_digest

    def exit_code(self, *, fail_on_flip: bool) -> int:
        return 1 if fail_on_flip and self.flips else 0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "base": {"label": self.base_label, "policy_digest": self.base_digest},
            "head": {"label": self.head_label, "policy_digest": self.head_digest},
            "runs_seen": self.runs_seen,
            "replayed": self.replayed,
            "duplicates": self.duplicates,
            "reconstructed": self.reconstructed,
            "skipped": [{"run": r, "reason": why} for r, why in self.skipped],
            "flips": [f.to_json_dict() for f in self.flips],
            "changed_same_outcome": self.changed_same_outcome,
            "reused": self.reused,
            "duration_s": round(self.duration_s, 4),
        }


# -- loading recorded inputs ----------------------------------------------------------------


def _today(decision: Mapping[str, Any]) -> dt.date:
    stamp = str(decision.get("evaluated_at", ""))[:10]
    return dt.date.fromisoformat(stamp)


def _reconstruct_base_input(request_doc: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
    """The phase-1 input as the gate builds it, from a recorded request (no geo context)."""
    request = contract.parse_request(request_doc)
    flags, missing = contract.effective_flags(request)
    return contract.policy_input(request, flags, missing, {}, today)


def load_case(folder: Path | RecordedRun) -> ReplayCase | str:
    """The replay case of one run folder, or the reason it cannot be replayed."""
    return _load_case(folder)[0]


def _load_case(folder: Path | RecordedRun) -> tuple[ReplayCase | str, dict[str, Any] | None]:
    """``load_case`` and the decision document it read (for the duplicate key)."""
    record = folder if isinstance(folder, RecordedRun) else RecordedRun(folder)
    try:
        decision = record.decision_doc
    except RecordError as err:
        return f"decision.json unreadable: {err}", None
    return _case_of(record, decision), decision


def _case_of(record: RecordedRun, decision: dict[str, Any]) -> ReplayCase | str:
    name = record.folder.name
    partition = decision.get("partition") or {}
    if not partition.get("aoi_key"):
        return "request was rejected (no partition)"
    try:
        today = _today(decision)
    except ValueError:
        return f"decision.json has no usable evaluated_at ({decision.get('evaluated_at')!r})"
    source: InputSource
    recorded_obligations: Any = None
    try:
        if record.file(POLICY_INPUT_FILE).is_file():
            doc = record.policy_inputs
            base_input = doc.get("obligations")
            phase2 = doc.get("decision")
            if not isinstance(base_input, dict):
                return f"{POLICY_INPUT_FILE} has no phase-1 input"
            if not isinstance(phase2, dict):
                return "the run stopped before phase 2 (no phase-2 input recorded)"
            evidence = phase2.get("evidence") or {}
            recorded_obligations = phase2.get("obligations")
            source = "recorded"
        else:
            if decision.get("outcome") == "error":
                return "recorded outcome error: the run stopped before its evidence was complete"
            if record.rejected:
                return "request was rejected"
            base_input = _reconstruct_base_input(record.request_doc, today)
            evidence = contract.evidence_input(record.evidence_doc)
            source = "reconstructed"
    except (KfmGateError, ValueError) as err:
        return f"record unreadable: {err}"
    unresolved = sorted(
        name
        for name, sec in evidence.items()
        if isinstance(sec, Mapping) and sec.get("status") == "error"
    )
    if unresolved:
        return f"evidence unresolved ({', '.join(unresolved)}): outcome error under any policy"
    try:
        dt.date.fromisoformat(str(base_input.get("today")))
    except ValueError:
        return f"{POLICY_INPUT_FILE} has no usable 'today' ({base_input.get('today')!r})"
    return ReplayCase(
        run=name,
        run_id=str(decision.get("run_id", name)),
        asset_key=str(decision.get("asset_key", "")),
        aoi_key=str(partition.get("aoi_key")),
        time_key=str(partition.get("time_key", "")),
        today=today,
        base_input=base_input,
        evidence=evidence,
        recorded_outcome=str(decision.get("outcome")),
        source=source,
        policy_digest=str(decision.get("policy_digest") or ""),
        recorded=_recorded_result(decision) if source == "recorded" else None,
        obligations=recorded_obligations if isinstance(recorded_obligations, list) else None,
    )


def _recorded_result(decision: Mapping[str, Any]) -> ReplayResult | None:
    """The recorded decision as ``_result`` reads a fresh one, or None when it cannot be.

    The gate records ``violations`` with the quarantine entries already added on outcome
    quarantine, and the obligations it passed to phase 2, so ``_result`` of the recorded
    document equals ``_result`` of the policy's answer for the recorded input.
    """
    obligations = decision.get("obligations")
    if decision.get("outcome") not in OUTCOMES or not isinstance(obligations, list):
        return None
    if not all(isinstance(o, Mapping) and isinstance(o.get("code"), str) for o in obligations):
        return None
    return _result(decision, obligations)


def iter_run_folders(root: Path) -> Iterator[RecordedRun]:
    """The current decision of every run (errors are never replayed)."""
    from kfm_gate.layout import Layout
    from kfm_gate.runs import RunStore

    yield from RunStore(Layout(root)).iter_runs()


# -- replay ----------------------------------------------------------------------------------


#: a helper module added to each replayed policy set: evaluates many inputs of each phase in one
#: call. The inputs are built by :mod:`kfm_gate.policy.contract`, as the gate builds them: phase
#: 1 is ``cases[i]``, phase 2 the union of ``cases[i]`` and its ``contract.decision_extra``
#: (which is what ``contract.decision_input`` is), so a phase-1 input is converted for OPA once
#: for both phases.
_BATCH_PACKAGE = "kfm_replay_batch"
_BATCH_MODULE = f"""package {_BATCH_PACKAGE}

results := {{
	"obligations": [o | some c in input.cases; o := data.kfm.gate.obligations with input as c],
	"decisions": decisions,
}}

decisions := [d |
	some p in input.pairs
	d := data.kfm.gate.decision with input as object.union(input.cases[p.case], p.extra)
]
"""
_RESULTS = f"{_BATCH_PACKAGE}.results"
_DECISIONS = f"{_BATCH_PACKAGE}.decisions"
#: cases per batched evaluation
BATCH_SIZE = 256


class ReplayEngine:
    """Both phases of one policy set, as the gate runs them, for recorded inputs.

    Cases are evaluated in batches (one engine call for many inputs, through a helper module in
    its own package); when a batch fails or a case is undefined, each case of the batch is
    evaluated alone so the failure stays with its case (outcome ``error``).
    """

    def __init__(self, policies: PolicySet) -> None:
        from dataclasses import replace

        from kfm_gate.policy.waivers import load_waivers

        self.policies = policies
        helper = f"{_BATCH_PACKAGE}/batch.rego"
        self.engine: PolicyEngine = EmbeddedOpaEngine(
            replace(policies, modules={**policies.modules, helper: _BATCH_MODULE}),
            prepare=(_RESULTS, _DECISIONS),
        )
        self._waivers = load_waivers(policies.root)
        #: used by one thread at a time (the pool hands an engine to one job at a time)
        self._obligations = _ObligationsMemo()
        self._waiver_input: dict[dt.date, list[dict[str, Any]]] = {}

    def waivers(self, today: dt.date) -> list[dict[str, Any]]:
        from kfm_gate.policy.waivers import waivers_policy_input

        cached = self._waiver_input.get(today)
        if cached is None:
            cached = self._waiver_input[today] = waivers_policy_input(self._waivers, today)
        return cached

    @staticmethod
    def _base_input(case: ReplayCase, as_of: dt.date | None) -> dict[str, Any]:
        return case.base_input if as_of is None else contract.at_day(case.base_input, as_of)

    def _extra(
        self, case: ReplayCase, base_input: dict[str, Any], obligations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        waivers = self.waivers(contract.input_day(base_input))
        return contract.decision_extra(obligations, case.evidence, waivers)

    def _decision_input(
        self, case: ReplayCase, base_input: dict[str, Any], obligations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {**base_input, **self._extra(case, base_input, obligations)}

    def replay(self, case: ReplayCase, *, as_of: dt.date | None = None) -> ReplayResult:
        """Outcome of ``case`` under this policy set; ``error`` when evaluation fails."""
        base_input = self._base_input(case, as_of)
        try:
            obligations = self._obligations(self.engine.evaluate(OBLIGATIONS_PATH, base_input))
            raw = self.engine.evaluate(
                DECISION_PATH, self._decision_input(case, base_input, obligations)
            )
        except KfmGateError as err:
            return ReplayResult(outcome="error", error=str(err))
        return _result(raw, obligations)

    def _batch(
        self,
        bases: list[dict[str, Any]],
        pairs: list[tuple[int, dict[str, Any]]],
        *,
        phase1: bool = True,
    ) -> tuple[list[Any], list[Any]] | None:
        """Phase-1 results of ``bases`` (unless not ``phase1``) and the phase-2 results of
        ``pairs`` (case index, its :func:`contract.decision_extra`), in one call; None when the
        call fails or some case is undefined (then each is evaluated alone)."""
        doc = {"cases": bases, "pairs": [{"case": i, "extra": extra} for i, extra in pairs]}
        try:
            values = self.engine.evaluate(_RESULTS if phase1 else _DECISIONS, doc)
        except KfmGateError:
            return None
        if not phase1:
            values = {"obligations": [], "decisions": values}
        if not isinstance(values, Mapping):
            return None
        obligations, decisions = values.get("obligations"), values.get("decisions")
        if not isinstance(obligations, list) or len(obligations) != (len(bases) if phase1 else 0):
            return None
        if not isinstance(decisions, list) or len(decisions) != len(pairs):
            return None
        return obligations, decisions

    def replay_many(
        self, cases: Sequence[ReplayCase], *, as_of: dt.date | None = None
    ) -> list[ReplayResult]:
        """``replay`` of every case, batched; same results as one call per case."""
        out: list[ReplayResult] = []
        for start in range(0, len(cases), BATCH_SIZE):
            chunk = cases[start : start + BATCH_SIZE]
            out += self._replay_chunk(chunk, as_of)
        return out

    def _replay_chunk(
        self, chunk: Sequence[ReplayCase], as_of: dt.date | None
    ) -> list[ReplayResult]:
        """Both phases of a chunk, in the gate's order, in as few engine calls as the answers
        allow: phase 1 of every case, and phase 2 of every case that recorded the obligations
        it was given, built with those obligations, in one call; a case keeps that phase-2
        answer only when its phase-1 result (validated and sorted as the gate does) is those
        very obligations, else its phase 2 is evaluated again with its own, in a second call.
        """
        if not chunk:
            return []
        bases = [self._base_input(c, as_of) for c in chunk]
        guessed = [i for i, c in enumerate(chunk) if c.obligations is not None]
        pairs = [(i, self._extra(chunk[i], bases[i], chunk[i].obligations or [])) for i in guessed]
        values = self._batch(bases, pairs)
        if values is None:
            return [self.replay(c, as_of=as_of) for c in chunk]
        raw_obligations, raw_decisions = values
        parsed: list[list[dict[str, Any]] | None] = []
        for raw in raw_obligations:
            try:
                parsed.append(self._obligations(raw))
            except KfmGateError:
                parsed.append(None)  # evaluated alone below: its error stays with it
        results: list[ReplayResult | None] = [None] * len(chunk)
        for i, raw in zip(guessed, raw_decisions, strict=True):
            if parsed[i] is not None and parsed[i] == chunk[i].obligations:
                results[i] = _result(raw, parsed[i] or [])
        redo = [i for i, r in enumerate(results) if r is None and parsed[i] is not None]
        if redo:
            again = self._batch(
                bases,
                [(i, self._extra(chunk[i], bases[i], parsed[i] or [])) for i in redo],
                phase1=False,
            )
            if again is not None:
                for i, raw in zip(redo, again[1], strict=True):
                    results[i] = _result(raw, parsed[i] or [])
        return [
            r if r is not None else self.replay(c, as_of=as_of)
            for r, c in zip(results, chunk, strict=True)
        ]

    def close(self) -> None:
        self.engine.close()


class _ObligationsMemo:
    """Phase-1 results as the gate passes them to phase 2 (validated, sorted), remembered by
    the JSON text of the raw result for as long as one replay engine lives (most partitions of
    a dataset get the same obligations). A returned list is shared between the calls with an
    equal result: read it, do not change it."""

    def __init__(self, size: int = 4096) -> None:
        self._found: dict[str, list[dict[str, Any]]] = {}
        self._size = size

    def __call__(self, raw: Any) -> list[dict[str, Any]]:
        try:
            key = json.dumps(raw, separators=(",", ":"))
        except (TypeError, ValueError):
            return _obligations_uncached(raw)
        cached = self._found.get(key)
        if cached is None:
            cached = _obligations_uncached(raw)  # raises before caching anything
            if len(self._found) >= self._size:
                self._found.clear()
            self._found[key] = cached
        return cached


def _obligations_uncached(raw: Any) -> list[dict[str, Any]]:
    """Exactly what the gate does with a phase-1 result (validated, sorted), as dicts."""
    return [o.to_json_dict() for o in contract.parse_obligations(raw)]


def _result(raw: Any, obligations: list[dict[str, Any]]) -> ReplayResult:
    """A phase-2 answer read as the gate reads it (:func:`contract.parse_decision`)."""
    codes = tuple(sorted({o["code"] for o in obligations}))
    try:
        answer = contract.parse_decision(raw)
    except KfmGateError as err:
        return ReplayResult(outcome="error", obligations=codes, error=str(err).split("\n")[0])
    return ReplayResult(
        outcome=answer.outcome,
        rules=tuple(sorted({v.rule for v in answer.violations})),
        codes=tuple(sorted({v.code for v in answer.violations})),
        obligations=codes,
        waived=tuple(sorted({w.waiver_id for w in answer.waived})),
    )


def replay_runs(
    root: Path,
    base: PolicySet,
    head: PolicySet,
    *,
    base_label: str = "base",
    head_label: str = "working tree",
    as_of: dt.date | None = None,
    folders: Iterable[Path | RecordedRun] | None = None,
    reuse_recorded: bool = True,
    workers: int = 2,
) -> ImpactReport:
    """Replay every recorded run of ``root`` under ``base`` and ``head``; list the flips.

    ``reuse_recorded`` takes a side's answer from the recorded decision when the run was
    recorded under that side's policy digest (see the module docstring); ``workers`` threads
    evaluate, each batch with an engine of its policy set, while the runs are still being read.
    """
    start = time.perf_counter()
    report = ImpactReport(
        base_label=base_label,
        head_label=head_label,
        base_digest=base.digest,
        head_digest=head.digest,
    )
    sides = [base] if base.digest == head.digest else [base, head]
    reuse = reuse_recorded and as_of is None
    seen: set[tuple[str, str, str]] = set()
    cases: list[ReplayCase] = []
    results: list[list[ReplayResult | None]] = [[] for _ in sides]
    reused: list[list[int]] = [[] for _ in sides]
    with _ReplayPool(sides, cases, results, as_of, workers) as pool:
        for folder in folders if folders is not None else iter_run_folders(root):
            report.runs_seen += 1
            case, decision = _load_case(folder)
            if isinstance(case, str):
                report.skipped.append((_name(folder), case))
                continue
            assert decision is not None  # a case is only ever read from a decision
            key = _dedupe_key(case, decision)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            i = len(cases)
            cases.append(case)
            for s, policies in enumerate(sides):
                if reuse and _reusable(case, policies):
                    results[s].append(case.recorded)
                    reused[s].append(i)
                    pool.sampled(s)
                else:
                    results[s].append(None)
                    pool.add(s, i)
        pool.flush()
        # reused answers evaluated anyway, spread over the runs
        checks: list[tuple[int, int]] = []
        for s, indices in enumerate(reused):
            step = max(1, len(indices) // REUSE_SAMPLE)
            checks += [(s, i) for i in indices[::step][:REUSE_SAMPLE]]
        checked = pool.evaluate(checks)
        pool.wait()
        report.reused = sum(len(indices) for indices in reused)
        if any(result != results[s][i] for (s, i), result in zip(checks, checked, strict=True)):
            # the recorded answers are not this replay's answers: evaluate everything
            report.reused = 0
            for s, indices in enumerate(reused):
                for i in indices:
                    results[s][i] = None
                    pool.add(s, i)
            pool.flush()
            pool.wait()
    assert all(r is not None for side in results for r in side)
    befores = cast(list[ReplayResult], results[0])
    afters = cast(list[ReplayResult], results[-1])
    report.replayed = len(cases)
    report.reconstructed = sum(c.source == "reconstructed" for c in cases)
    for case, before, after in zip(cases, befores, afters, strict=True):
        if before.outcome != after.outcome:
            report.flips.append(Flip(case, before, after))
        elif before.rules != after.rules or before.codes != after.codes:
            report.changed_same_outcome += 1
    report.flips.sort(key=lambda f: (f.case.asset_key, f.case.aoi_key, f.case.time_key, f.case.run))
    report.duration_s = time.perf_counter() - start
    return report


def _name(folder: Path | RecordedRun) -> str:
    return folder.folder.name if isinstance(folder, RecordedRun) else folder.name


#: reused cases that are evaluated anyway, to check that reuse gives the evaluated answer
REUSE_SAMPLE = 16
#: cases handed to a worker at a time (smaller than BATCH_SIZE: work starts while runs are read)
CHUNK_SIZE = 128


def _reusable(case: ReplayCase, policies: PolicySet) -> bool:
    return (
        case.source == "recorded"
        and case.recorded is not None
        and bool(case.policy_digest)
        and case.policy_digest == policies.digest
    )


class _ReplayPool:
    """Evaluates (side, case index) jobs on ``workers`` threads while the caller reads runs.

    Jobs are queued by side and handed out ``CHUNK_SIZE`` at a time; each chunk goes to an idle
    engine of its side (at most one engine per side and thread is compiled, some ahead of
    time: ``warm``). The embedded engine releases the GIL while OPA compiles and evaluates, so
    reading runs in Python and evaluating overlap. Results are written to
    ``results[side][index]``; the first failure is raised by ``wait``.
    """

    def __init__(
        self,
        sides: Sequence[PolicySet],
        cases: Sequence[ReplayCase],
        results: list[list[ReplayResult | None]],
        as_of: dt.date | None,
        workers: int,
    ) -> None:
        self._sides = sides
        self._cases = cases
        self._results = results
        self._as_of = as_of
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers)
        self._futures: list[Future[None]] = []
        self._pending: list[list[int]] = [[] for _ in sides]
        self._lock = threading.Lock()
        self._idle: list[list[ReplayEngine]] = [[] for _ in sides]
        self._engines: list[ReplayEngine] = []
        self._warmed = [0] * len(sides)
        self._sampled: list[int] = []
        #: the first engine that failed to compile: raised by the next ``add`` and every job
        self._failed: BaseException | None = None

    def __enter__(self) -> _ReplayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for engine in self._engines:
            engine.close()

    def warm(self, side: int, engines: int) -> None:
        """Have ``engines`` engines of ``side`` compiled ahead of their first chunk."""
        for _ in range(min(engines, self._workers) - self._warmed[side]):
            self._warmed[side] += 1
            self._futures.append(self._pool.submit(self._warm, side))

    def sampled(self, side: int) -> None:
        """``side`` has reused answers, a sample of which is evaluated at the end: one engine
        is compiled for it, after the first chunk to evaluate is under way."""
        if side not in self._sampled:
            self._sampled.append(side)

    def add(self, side: int, index: int) -> None:
        if self._failed is not None:  # stop reading runs: the policies do not compile
            raise self._failed
        self.warm(side, self._workers)
        pending = self._pending[side]
        pending.append(index)
        if len(pending) >= CHUNK_SIZE:
            self._submit(side, pending)
            self._pending[side] = []

    def flush(self) -> None:
        """Hand out what is queued, in smaller chunks so the threads finish together."""
        for side, pending in enumerate(self._pending):
            size = max(8, -(-len(pending) // (2 * self._workers)))
            for k in range(0, len(pending), size):
                self._submit(side, pending[k : k + size])
            self._pending[side] = []
        self._warm_sampled()

    def _warm_sampled(self) -> None:
        for side in self._sampled:
            self.warm(side, 1)
        self._sampled.clear()

    def evaluate(self, jobs: Sequence[tuple[int, int]]) -> list[ReplayResult]:
        """Results of ``jobs`` (side, case index), in order, without writing them anywhere."""
        out: dict[tuple[int, int], ReplayResult] = {}
        futures = []
        for side in range(len(self._sides)):
            indices = [i for s, i in jobs if s == side]
            if indices:
                futures.append(self._pool.submit(self._run, side, indices, out))
        for future in futures:
            future.result()
        return [out[job] for job in jobs]

    def wait(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            future.result()

    def _submit(self, side: int, indices: list[int]) -> None:
        if indices:
            self._futures.append(self._pool.submit(self._run, side, indices, None))
            self._warm_sampled()

    def _new_engine(self, side: int) -> ReplayEngine:
        if self._failed is not None:
            raise self._failed  # compiled once: not again for every chunk
        try:
            engine = ReplayEngine(self._sides[side])
        except BaseException as err:
            self._failed = self._failed or err
            raise
        with self._lock:
            self._engines.append(engine)
        return engine

    def _warm(self, side: int) -> None:
        engine = self._new_engine(side)
        with self._lock:
            self._idle[side].append(engine)

    def _run(
        self, side: int, indices: list[int], out: dict[tuple[int, int], ReplayResult] | None
    ) -> None:
        with self._lock:
            engine = self._idle[side].pop() if self._idle[side] else None
        if engine is None:
            engine = self._new_engine(side)
        try:
            done = engine.replay_many([self._cases[i] for i in indices], as_of=self._as_of)
        finally:
            with self._lock:
                self._idle[side].append(engine)
        for i, result in zip(indices, done, strict=True):
            if out is None:
                self._results[side][i] = result
            else:
                out[(side, i)] = result


def _dedupe_key(case: ReplayCase, decision: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        str(decision.get("request_digest")),
        str(decision.get("evidence_digest")),
        case.today.isoformat(),
    )


# -- base policies from git ------------------------------------------------------------------


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as err:
        raise InputError("git is not installed: --base needs git (or pass --base-dir)") from err


@contextmanager
def policies_at_revision(policy_dir: Path, rev: str) -> Iterator[PolicySet]:
    """The policy set of ``policy_dir`` as committed at ``rev`` (extracted to a temp folder)."""
    if not rev or rev.startswith("-"):
        raise InputError(f"--base {rev!r} is not a git revision (e.g. origin/main, HEAD~1)")
    policy_dir = policy_dir.resolve()
    if not policy_dir.is_dir():
        raise InputError(f"policy folder {policy_dir} does not exist; pass --policies DIR")
    top = _git(["rev-parse", "--show-toplevel"], policy_dir)
    if top.returncode != 0:
        raise InputError(
            f"{policy_dir} is not inside a git repository; --base needs git (or pass --base-dir)"
        )
    toplevel = Path(top.stdout.decode().strip()).resolve()
    rel = policy_dir.relative_to(toplevel).as_posix()
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], toplevel)
    if commit.returncode != 0:
        raise InputError(
            f"--base {rev!r} is not a commit of {toplevel}; fetch it first "
            "(git fetch origin main) or name another revision"
        )
    sha = commit.stdout.decode().strip()
    archive = _git(["archive", "--format=tar", sha, "--", rel], toplevel)
    if archive.returncode != 0:
        raise InputError(
            f"{rel}/ does not exist at {rev} ({sha[:12]}): "
            f"{archive.stderr.decode(errors='replace').strip()}"
        )
    with tempfile.TemporaryDirectory(prefix="kfm-gate-base-") as tmp:
        import io

        with tarfile.open(fileobj=io.BytesIO(archive.stdout), mode="r:") as tar:
            tar.extractall(tmp, filter="data")
        folder = Path(tmp) / rel
        try:
            yield load_policy_set(folder)
        except PolicyError as err:
            raise PolicyError(f"base policies at {rev}: {err}") from err


# -- renderers -------------------------------------------------------------------------------


def _short_digest(value: str) -> str:
    return value.removeprefix("sha256:")[:12]


def _rules(flip: Flip) -> str:
    parts = [f"+{r}" for r in flip.rules_added] + [f"-{r}" for r in flip.rules_removed]
    return " ".join(parts) or "(same rules)"


def _notes(flip: Flip) -> list[str]:
    notes = []
    if flip.obligations_changed:
        notes.append("obligations changed: evidence was collected for the old ones")
    if flip.case.source == "reconstructed":
        notes.append("input reconstructed")
    notes += [f"error: {e}" for e in (flip.before.error, flip.after.error) if e]
    return notes


def _summary(report: ImpactReport) -> str:
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    dupes = f", {report.duplicates} duplicate(s)" if report.duplicates else ""
    return (
        f"replayed {report.replayed} recorded decision(s) of {report.runs_seen} run(s)"
        f"{dupes}{skipped} in {report.duration_s:.2f} s: {len(report.flips)} flip(s)"
        + (
            f", {report.changed_same_outcome} with other rules but the same outcome"
            if report.changed_same_outcome
            else ""
        )
    )


class ImpactTextRenderer:
    """Plain text for terminals and logs."""

    def render(self, report: ImpactReport) -> str:
        lines = [
            f"policy impact: {report.base_label} ({_short_digest(report.base_digest)}) -> "
            f"{report.head_label} ({_short_digest(report.head_digest)})",
        ]
        if report.same_policies:
            lines.append("the two policy sets are identical: nothing can flip")
        lines.append(_summary(report))
        for flip in report.flips:
            lines.append(
                f"FLIP {flip.case.partition}  {flip.before.outcome} -> {flip.after.outcome}  "
                f"{_rules(flip)}  [{flip.case.run}]"
            )
            lines += [f"     {note}" for note in _notes(flip)]
        for run, why in report.skipped:
            lines.append(f"skip {run}: {why}")
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


class ImpactMarkdownRenderer:
    """GitHub-flavoured markdown for pull-request summaries (``$GITHUB_STEP_SUMMARY``)."""

    def __init__(self, max_rows: int = 200) -> None:
        self.max_rows = max_rows

    def render(self, report: ImpactReport) -> str:
        icon = ":warning:" if report.flips else ":white_check_mark:"
        lines = [
            "## Policy impact",
            "",
            f"{icon} Base `{_md(report.base_label)}` (`{_short_digest(report.base_digest)}`) "
            f"→ `{_md(report.head_label)}` (`{_short_digest(report.head_digest)}`): "
            f"{_md(_summary(report))}.",
            "",
        ]
        if report.flips:
            lines += [
                "| Partition | Before | After | Rules | Notes |",
                "|---|---|---|---|---|",
            ]
            for flip in report.flips[: self.max_rows]:
                lines.append(
                    f"| `{_md(flip.case.partition)}` | {flip.before.outcome} | "
                    f"**{flip.after.outcome}** | {_md(_rules(flip))} | "
                    f"{_md('; '.join(_notes(flip)))} |"
                )
            if len(report.flips) > self.max_rows:
                lines.append(f"\n… and {len(report.flips) - self.max_rows} more flip(s).")
            lines.append("")
        else:
            lines += ["No recorded partition changes outcome.", ""]
        if report.skipped:
            lines += [
                "<details><summary>Skipped runs</summary>",
                "",
                *[f"- `{_md(run)}`: {_md(why)}" for run, why in report.skipped[: self.max_rows]],
                "",
                "</details>",
                "",
            ]
        return "\n".join(lines)


class ImpactJsonRenderer:
    """The report as JSON (sorted keys)."""

    def render(self, report: ImpactReport) -> str:
        return json.dumps(report.to_json_dict(), indent=2, sort_keys=True) + "\n"


RENDERERS = {
    "text": ImpactTextRenderer,
    "markdown": ImpactMarkdownRenderer,
    "json": ImpactJsonRenderer,
}
