"""The gate: one partition through the flow of DESIGN.md, failing closed, ending at a record.

1. parse and validate the request (partition keys against the AOI registry);
2. derive the deterministic run id; reuse the recorded decision of the *same* request;
3. join the governance flags (inputs, AOI, sensitive zones);
4. policy phase 1: obligations;
5. stage the public view (in the run's scratch folder) and apply the obligations to it;
6. collect evidence on it;
7. policy phase 2: the decision;
8. record it, all or nothing (:meth:`RunStore.record`): decision, run record, PROV-O,
   OpenLineage and the ledger entry; an allowed run's masked public view is recorded with it.

The gate stops there: it never touches a public path (``data/processed/.../public``,
``data/stac``, ``data/graph``); :mod:`kfm_gate.publication` promotes what it recorded. Any
exception anywhere gives outcome ``error``, which blocks like ``deny``, is recorded under its
own attempt and never stands for a decision: the next evaluation decides again. Nothing here
knows Rego, Presidio or Dagster: they sit behind the protocols.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import functools
import json
import platform
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kfm_gate.context import (
    ChangesColumns,
    Collector,
    GateContext,
    ObligationEngine,
    PendingSection,
    StartsEarly,
    ViewFile,
)
from kfm_gate.errors import (
    CollectorError,
    InputError,
    KfmGateError,
    PolicyCompileError,
    RecordError,
)
from kfm_gate.footprint import footprint
from kfm_gate.ids import invalid_request_id, run_folder_name, run_id, sha256_bytes, validate_aoi_key
from kfm_gate.layout import Layout
from kfm_gate.limits import LIMITS, call_with_deadline
from kfm_gate.models import (
    Decision,
    Evidence,
    EvidenceSection,
    GovernanceFlags,
    Obligation,
    PromotionRequest,
    Violation,
)
from kfm_gate.models.decision import build_decision
from kfm_gate.policy import contract
from kfm_gate.policy.bundle import PolicySet, load_policy_set
from kfm_gate.policy.engine import DECISION_PATH, OBLIGATIONS_PATH, PolicyEngine
from kfm_gate.policy.waivers import load_waivers, waivers_policy_input
from kfm_gate.runs import PublicView, PublicViewFile, RecordedRun, RunDraft, RunStore

#: packages whose versions go into config.json
RECORDED_PACKAGES = (
    "kfm-gate",
    "opa-golib-python-bindings",
    "pydantic",
    "great-expectations",
    "presidio-analyzer",
    "shapely",
    "pystac",
    "rdflib",
    "dagster",
    "openlineage-python",
)
NO_POLICY_DIGEST = "sha256:" + "0" * 64

#: what a geo-context provider returns: the policy's ``geo`` input and zone/AOI flags to join
#: (request, repository root, the run's memo) -> (geo context, flags of the zones touched)
GeoContextProvider = Callable[
    [PromotionRequest, Path, dict[str, Any]], tuple[dict[str, Any], list[GovernanceFlags]]
]


@runtime_checkable
class HasPolicySet(Protocol):
    """An engine that knows the policy set it evaluates (the gate then needs not load it)."""

    @property
    def policies(self) -> PolicySet: ...


@dataclass(frozen=True)
class GateSettings:
    """Resolved settings of one gate; recorded (without secrets) in ``config.json``."""

    root: Path
    policy_dir: Path
    as_of: dt.date | None = None
    force: bool = False
    collector_timeout_s: float = LIMITS.collector_s
    aoi_ids: frozenset[str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def today(self) -> dt.date:
        """The evaluation day: ``as_of`` or the current UTC day (decisions are per day)."""
        return self.as_of or dt.datetime.now(dt.UTC).date()

    def snapshot(self) -> dict[str, Any]:
        return {
            "policy_dir": _rel(self.policy_dir, self.root),
            "as_of": self.today().isoformat(),
            "collector_timeout_s": self.collector_timeout_s,
            "aoi_registry_size": None if self.aoi_ids is None else len(self.aoi_ids),
            "options": {k: v for k, v in sorted(self.options.items()) if not k.startswith("_")},
        }


@dataclass
class GateRun:
    """The result of one gate run (what the CLI renders and the publisher is handed)."""

    decision: Decision
    #: where the decision is recorded: the run folder, or its attempt folder for an error
    run_dir: Path
    request: PromotionRequest | None
    evidence: Evidence
    config: dict[str, Any]
    reused: bool = False
    #: False when the decision could not be recorded (the decision's error says why)
    recorded: bool = True
    context: GateContext | None = None
    log_lines: list[str] = field(default_factory=list)
    #: the documents given to the policy: {"obligations": phase-1 input, "decision": phase-2}
    policy_inputs: dict[str, Any] = field(default_factory=dict)
    #: the effective (joined) flags, None when missing
    flags: GovernanceFlags | None = None
    #: the ledger line of the decision (``entry``, ``hash``, ``appended``), when recorded
    ledger: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return self.decision.exit_code


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


class _RecordingFailedError(RecordError):
    """The decision was taken but could not be recorded: it does not stand."""

    def __init__(self, cause: str) -> None:
        super().__init__(
            f"the decision could not be recorded ({cause}); nothing of it was written: "
            "fix the cause and re-run (the partition is decided again)"
        )


class _Versions:
    """Versions of the recorded packages, looked up once per gate (they cannot change)."""

    def __init__(self) -> None:
        self._found: dict[str, str] | None = None

    def get(self) -> dict[str, str]:
        if self._found is None:
            out = {}
            for name in RECORDED_PACKAGES:
                try:
                    out[name] = metadata.version(name)
                except metadata.PackageNotFoundError:
                    out[name] = "not installed"
            self._found = out
        return dict(self._found)


def _guarded(
    name: str, call: Callable[..., Any], timeout: float | None = None, limit: float | None = None
) -> Any:
    """``call(timeout)`` (or ``call()``) with every failure turned into CollectorError."""
    try:
        return call() if timeout is None else call(timeout=timeout)
    except (concurrent.futures.TimeoutError, TimeoutError) as err:
        shown = limit if limit is not None else timeout
        raise CollectorError(
            f"collector {name} did not finish within {shown:g} s; "
            "raise collector_timeout_s or make the input smaller"
        ) from err
    except KfmGateError:
        raise
    except Exception as err:
        raise CollectorError(f"collector {name} failed: {type(err).__name__}: {err}") from err


def _checked(name: str, section: object) -> EvidenceSection:
    if not isinstance(section, EvidenceSection):
        raise CollectorError(
            f"collector {name} returned {type(section).__name__}, not an EvidenceSection"
        )
    if section.status == "error":
        raise CollectorError(
            f"collector {name} could not resolve its evidence: {section.error or 'no reason given'}"
        )
    return section


@dataclass
class _Work:
    """What one evaluation built up, whatever its outcome."""

    request: PromotionRequest
    run_id: str
    policy_digest: str
    today: dt.date
    config: dict[str, Any]
    log: list[str]
    evidence: Evidence = field(default_factory=Evidence)
    obligations: tuple[Obligation, ...] = ()
    context: GateContext | None = None
    policy_inputs: dict[str, Any] = field(default_factory=dict)
    flags: GovernanceFlags | None = None
    engine_name: str = "embedded-opa"
    work_dir: Path | None = None

    def note(self, message: str) -> None:
        self.log.append(message)


class Gate:
    """Runs partitions through collectors, obligation engines and the two policy phases."""

    def __init__(
        self,
        settings: GateSettings,
        *,
        engine: PolicyEngine | None = None,
        collectors: Sequence[Collector] | None = None,
        obligation_engines: Sequence[ObligationEngine] = (),
        geo_context: GeoContextProvider | None = None,
        store: RunStore | None = None,
    ) -> None:
        self.settings = settings
        self.layout = store.layout if store is not None else Layout(settings.root)
        self.store = store or RunStore(self.layout)
        self._engine = engine
        self._owns_engine = engine is not None
        self._engine_error: KfmGateError | None = None
        if collectors is None:
            from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

            collectors = (ChecksumCollector(), PlacementCollector())
        self.collectors = tuple(collectors)
        self.obligation_engines = tuple(obligation_engines)
        self.geo_context = geo_context
        self._policies: PolicySet | None = None
        self._versions = _Versions()

    # -- policy set and engine (loaded once, reused) ----------------------------------

    @property
    def policies(self) -> PolicySet:
        if self._policies is None:
            self._policies = (
                self._engine.policies
                if isinstance(self._engine, HasPolicySet)
                else load_policy_set(self.settings.policy_dir)
            )
        return self._policies

    def engine(self) -> PolicyEngine:
        """The policy engine, built on first use; a compile error is kept and re-raised."""
        if self._engine is None:
            if self._engine_error is not None:
                raise self._engine_error
            from kfm_gate.policy.factory import shared_embedded_engine

            try:
                self._engine = shared_embedded_engine(self.policies)
            except KfmGateError as err:
                self._engine_error = err
                raise
        return self._engine

    def close(self) -> None:
        """Close an engine this gate was given; the process's shared engine stays open."""
        if self._engine is not None and self._owns_engine:
            self._engine.close()

    # -- the flow ----------------------------------------------------------------------

    def run_id_for(self, request: PromotionRequest, policy_digest: str | None = None) -> str:
        """The deterministic run id this gate gives ``request`` (with its current policies)."""
        return run_id(
            asset_key=request.asset_key,
            aoi_key=request.partition.aoi_key,
            time_key=request.partition.time_key,
            input_checksums=request.input_checksums(),
            code_ref=request.code_ref,
            params=request.params,
            policy_digest=policy_digest or self.policies.digest,
        )

    def evaluate(self, raw: bytes | str | Mapping[str, Any] | PromotionRequest) -> GateRun:
        """Gate one partition. Never raises for a gate failure: the outcome is ``error``."""
        today = self.settings.today()
        try:
            request = contract.parse_request(raw)
            if self.settings.aoi_ids is not None:
                validate_aoi_key(request.partition.aoi_key, self.settings.aoi_ids)
        except KfmGateError as err:
            return self._reject(raw, err, today)

        policy_error: KfmGateError | None = None
        try:
            policy_digest = self.policies.digest
        except KfmGateError as err:  # recorded as outcome error below
            policy_digest = NO_POLICY_DIGEST
            policy_error = err
        rid = self.run_id_for(request, policy_digest)
        work = _Work(
            request, rid, policy_digest, today, self._config(request, rid, policy_digest), []
        )
        try:
            self._preflight(rid)
        except KfmGateError as err:  # a write would leave the roots: nothing is written
            return self._unrecorded(work, self._error_decision(work, err), root_only=True)
        with self.layout.run_lock(run_folder_name(rid)):  # LockError: the run is busy
            # what a killed evaluation of this run left in its scratch folder
            shutil.rmtree(self.layout.work_dir(rid), ignore_errors=True)
            if not self.settings.force:
                found, why = self.store.reusable(rid, request.request_digest)
                if found is not None:
                    try:
                        return self._reused(found, request)
                    except RecordError as err:  # another file of the record is damaged
                        why = f"recorded run unusable ({err}): deciding again"
                if why != "no decision recorded":
                    work.note(why)
            decision = self._decide(work, policy_error)
            return self._record(work, decision)

    def _preflight(self, rid: str) -> None:
        """Every path this run may write or lock stays inside the roots (links resolved):
        checked before any work, so a link that leaves them writes nothing."""
        layout = self.layout
        ledger = layout.ledger_path
        layout.preflight(
            [
                layout.run_dir(rid),
                layout.run_dir(rid) / "attempts",
                layout.run_lock_path(run_folder_name(rid)),
                layout.work_dir(rid),
                layout.staging_dir,
                layout.journal_path,
                layout.publish_lock_path,
                ledger,
                ledger.with_name(ledger.stem + ".head.json"),
                ledger.with_name(ledger.name + ".lock"),
            ]
        )

    def _decide(self, work: _Work, policy_error: KfmGateError | None) -> Decision:
        """Steps 3 to 7; any failure gives outcome error. The scratch folder is removed."""
        request, rid, today = work.request, work.run_id, work.today
        note = work.note
        memo: dict[str, Any] = {}  # the run's memo (GateContext.memo), from the flags on
        note(f"run {rid} partition {request.partition.aoi_key}|{request.partition.time_key}")
        note(f"asset {request.asset_key}; policy digest {work.policy_digest}")
        try:
            if policy_error is not None:
                raise policy_error
            engine = self.engine()
            work.engine_name = engine.name
            work.config["engine"] = {"name": engine.name, "revision": engine.revision}
            flags, flags_missing, geo = self._flags(request, note, memo)
            work.flags = flags
            base_input = contract.policy_input(request, flags, flags_missing, geo, today)
            work.policy_inputs["obligations"] = base_input
            raw_obligations = engine.evaluate(OBLIGATIONS_PATH, base_input)
            contract.note_engine_ids(engine, "obligations", work.config)
            obligations = contract.parse_obligations(raw_obligations)
            work.obligations = obligations
            note(
                f"phase 1: {len(obligations)} obligation(s): "
                + ", ".join(o.code for o in obligations)
            )

            work.work_dir, files = self._stage(request, rid)
            ctx = GateContext(
                request=request,
                root=self.layout.root,
                run_id=rid,
                files=files,
                flags=flags,
                geo=geo,
                obligations=obligations,
                settings=dict(self.settings.options),
                policy_dir=self.settings.policy_dir,
                memo=memo,
                logger=note,
            )
            work.context = ctx
            early = self._start_early(replace(ctx, changing_columns=self._changing(obligations)))
            try:
                applied = self._apply_obligations(ctx, obligations, note)
            except BaseException:
                for handle in early.values():  # nothing will wait for them
                    handle.cancel()
                raise
            ctx = replace(ctx, applied=applied)
            work.context = ctx
            work.evidence = self._collect(ctx, applied, note, early)

            waivers = load_waivers(self.settings.policy_dir)
            decision_input = contract.decision_input(
                base_input,
                obligations,
                contract.evidence_input(work.evidence),
                waivers_policy_input(waivers, today),
            )
            work.policy_inputs["decision"] = decision_input
            raw_decision = engine.evaluate(DECISION_PATH, decision_input)
            contract.note_engine_ids(engine, "decision", work.config)
            answer = contract.parse_decision(raw_decision)
            engine_info = work.config.get("engine", {})
            decision = build_decision(
                **_request_fields(request),
                run_id=rid,
                outcome=answer.outcome,
                violations=answer.violations,
                warnings=answer.warnings,
                waived=answer.waived,
                obligations=obligations,
                reasons=answer.reasons,
                evidence_digest=work.evidence.evidence_digest,
                policy_digest=work.policy_digest,
                engine=work.engine_name,
                day=today,
                # OPA's own ids are provenance, not content: kept out of the decision id digest
                engine_decision_ids=engine_info.get("decision_ids"),
                engine_revision=engine_info.get("server_revision"),
            )
            note(f"phase 2: outcome {decision.outcome}; {len(decision.violations)} violation(s)")
        except Exception as err:  # fail closed: every failure becomes outcome "error"
            decision = self._error_decision(work, err)
            note("traceback (frames only):")
            for frame in traceback.extract_tb(err.__traceback__):
                note(
                    f"  {_rel(Path(frame.filename), self.layout.root)}:{frame.lineno} in {frame.name}"
                )
        return decision

    def _record(self, work: _Work, decision: Decision) -> GateRun:
        """Record the decision (every outcome), all or nothing; the scratch folder goes.

        When the record cannot be written (disk full, a write refused), nothing of it is
        visible and the outcome is ``error``, unrecorded: the next evaluation decides again.
        """
        request = work.request
        try:
            view = self._public_view(work) if decision.outcome == "allow" else None
            draft = RunDraft(
                decision=decision,
                request=request,
                request_doc=request.to_json_dict(),
                config=work.config,
                evidence=work.evidence,
                policy_inputs=work.policy_inputs,
                log="\n".join(
                    [*work.log, "public view recorded" if view else "no public view recorded"]
                )
                + "\n",
                flags=work.flags,
                public_view=view[0] if view else None,
                public_bytes=view[1] if view else {},
            )
            recorded = self.store.record(draft)
        except (KfmGateError, OSError) as err:
            if decision.outcome == "error":
                work.note(f"the error could not be recorded either: {err}")
                return self._unrecorded(work, decision)
            return self._unrecorded(
                work, self._error_decision(work, _RecordingFailedError(f"{err}"))
            )
        finally:
            if work.work_dir is not None:
                shutil.rmtree(work.work_dir, ignore_errors=True)
        return GateRun(
            decision=decision,
            run_dir=recorded.run.folder,
            request=request,
            evidence=work.evidence,
            config=work.config,
            context=work.context,
            log_lines=work.log,
            policy_inputs=work.policy_inputs,
            flags=work.flags,
            ledger=recorded.ledger,
        )

    def _public_view(self, work: _Work) -> tuple[PublicView, dict[str, bytes]]:
        """The masked public view of an allowed run, read from the scratch folder: recorded
        with the decision, published from the record."""
        ctx = work.context
        assert ctx is not None  # an allow went through every step
        public_dir = self.layout.public_dir(work.request, work.run_id)
        files: list[PublicViewFile] = []
        data: dict[str, bytes] = {}
        for view in sorted(ctx.files, key=lambda v: v.public.name):
            content = view.public.read_bytes()
            name = view.public.name
            data[name] = content
            files.append(
                PublicViewFile(
                    name=name,
                    relpath=self.layout.rel(public_dir / name),
                    sha256=sha256_bytes(content),
                    size=len(content),
                    media_type=view.media_type,
                    role=view.role,
                    source=view.relpath,
                )
            )
        return PublicView(tuple(files), footprint(data.items())), data

    # -- steps -------------------------------------------------------------------------

    def _flags(
        self, request: PromotionRequest, note: Callable[[str], None], memo: dict[str, Any]
    ) -> tuple[GovernanceFlags | None, list[str], dict[str, Any]]:
        geo: dict[str, Any] = {}
        extra: list[GovernanceFlags] = []
        if self.geo_context is not None:
            geo, extra = self.geo_context(request, self.layout.root, memo)
        flags, missing = contract.effective_flags(request, extra)
        if request.inputs and missing:
            note(f"inputs without flags: {', '.join(missing)}")
        return flags, missing, geo

    def _stage(self, request: PromotionRequest, rid: str) -> tuple[Path, tuple[ViewFile, ...]]:
        """Copy the candidate outputs into the run's scratch folder: the public view before
        masking (never a public path)."""
        work_dir = self.layout.work_dir(rid)
        if work_dir.exists():
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True)
        self.layout.check_inside(work_dir)
        files = []
        names: set[str] = set()
        for out in request.outputs:
            candidate = self.layout.root / out.path
            name = Path(out.path).name
            if name in names:
                raise InputError(f"two outputs are named {name!r}: output file names must differ")
            names.add(name)
            public = work_dir / name
            if not candidate.is_file() or candidate.is_symlink():
                continue  # the checksum evidence reports it missing, and the policy denies
            shutil.copyfile(candidate, public)
            files.append(ViewFile(out.path, candidate, public, out.media_type, out.role))
        return work_dir, tuple(files)

    def _apply_obligations(
        self, ctx: GateContext, obligations: tuple[Obligation, ...], note: Callable[[str], None]
    ) -> dict[str, Any]:
        applied: list[dict[str, Any]] = []
        reports: dict[str, Any] = {}
        for eng in self.obligation_engines:
            mine = tuple(o for o in obligations if o.kind in eng.kinds)
            if not mine:
                continue
            report = dict(eng.apply(ctx, mine))
            entries = report.pop("applied", None)
            if isinstance(entries, list):
                # the engine says, per obligation, whether it applied it
                for entry in entries:
                    applied.append(
                        {
                            "code": entry["code"],
                            "kind": entry["kind"],
                            "engine": eng.name,
                            "applied": bool(entry.get("applied")),
                        }
                    )
                report["applied"] = entries  # the engine's own details stay in its report
            else:
                done = set(report.get("applied_codes", [o.code for o in mine]))
                for o in mine:
                    applied.append(
                        {
                            "code": o.code,
                            "kind": o.kind,
                            "engine": eng.name,
                            "applied": o.code in done,
                        }
                    )
            reports[eng.name] = report
            codes = sorted(
                {
                    str(a["code"])
                    for a in applied
                    if a.get("engine") == eng.name and a.get("applied")
                }
            )
            note(f"obligations applied by {eng.name}: {', '.join(codes) or 'none'}")
        return {"applied": applied, "reports": reports}

    def _changing(self, obligations: tuple[Obligation, ...]) -> frozenset[str] | None:
        """Table columns the obligation engines are about to change (values only), or
        ``None`` when some obligation may change the view in another way (rows, geometry)."""
        columns: set[str] = set()
        for ob in obligations:
            for eng in self.obligation_engines:
                if ob.kind not in eng.kinds:
                    continue
                found = eng.changed_columns(ob) if isinstance(eng, ChangesColumns) else None
                if found is None:
                    return None
                columns.update(found)
        return frozenset(columns)

    def _start_early(self, ctx: GateContext) -> dict[str, PendingSection]:
        """Background collectors that may start before the obligations are applied.

        Only when the obligations change nothing but the values of ``ctx.changing_columns``:
        a collector's ``start`` then returns a handle only if its evidence cannot depend on
        those columns (e.g. a quality suite that does not read them), else ``None`` and it
        starts after the obligations as usual.
        """
        early: dict[str, PendingSection] = {}
        if ctx.changing_columns is not None:
            self._start_background(ctx, early)
        return early

    def _start_background(self, ctx: GateContext, pending: dict[str, PendingSection]) -> None:
        """Start every collector that :class:`StartsEarly` and is not in ``pending`` yet; the
        handles go into ``pending``. On a failure every handle in ``pending`` is cancelled."""
        try:
            for collector in self.collectors:
                if isinstance(collector, StartsEarly) and collector.name not in pending:
                    handle = _guarded(collector.name, lambda c=collector: c.start(ctx))
                    if handle is not None:
                        pending[collector.name] = handle
        except BaseException:
            for handle in pending.values():
                handle.cancel()
            raise

    def _collect(
        self,
        ctx: GateContext,
        applied: dict[str, Any],
        note: Callable[[str], None],
        early: dict[str, PendingSection] | None = None,
    ) -> Evidence:
        """Run every collector; a collector that :class:`StartsEarly` works in the background.

        Background collectors (e.g. the quality suite in its worker process) are started
        first (or were started before the obligations: ``early``), then the others run one
        after another in a helper thread, each within the collector timeout, then the
        background ones are awaited within the same timeout, counted from the start of this
        collection. Sections keep the collectors' order.
        """
        timeout = self.settings.collector_timeout_s
        started = time.monotonic()
        pending: dict[str, PendingSection] = dict(early or {})
        results: dict[str, EvidenceSection] = {}
        self._start_background(ctx, pending)
        try:
            for collector in self.collectors:
                if collector.name in pending:
                    continue
                # in a daemon thread: a collector that never returns cannot hold the gate
                call = functools.partial(
                    call_with_deadline,
                    functools.partial(collector.collect, ctx),
                    what=collector.name,
                )
                results[collector.name] = _checked(
                    collector.name, _guarded(collector.name, call, timeout)
                )
                note(f"evidence {collector.name}: {results[collector.name].status}")
            for name in list(pending):
                remaining = max(0.0, timeout - (time.monotonic() - started))
                handle = pending[name]
                results[name] = _checked(name, _guarded(name, handle.result, remaining, timeout))
                del pending[name]
                note(f"evidence {name}: {results[name].status}")
        finally:
            for handle in pending.values():  # the run failed: stop background work
                handle.cancel()
        sections: dict[str, EvidenceSection] = {
            "obligations": EvidenceSection(collector="Gate", data=applied),
        }
        for collector in self.collectors:
            sections[collector.name] = results[collector.name]
        return Evidence(sections=sections)

    def _error_decision(self, work: _Work, err: BaseException) -> Decision:
        code = err.reason_code if isinstance(err, KfmGateError) else "GATE_INTERNAL_ERROR"
        if isinstance(err, KfmGateError):
            message = str(err)
        else:
            message = f"internal error {type(err).__name__}: {err}"
        details: dict[str, Any] = {"error_type": type(err).__name__}
        if isinstance(err, PolicyCompileError) and err.location:
            details["location"] = err.location
        work.note(f"ERROR {code}: {message}")
        violation = Violation(
            rule="gate.error", code=code, msg=message, severity="critical", details=details
        )
        return build_decision(
            **_request_fields(work.request),
            run_id=work.run_id,
            outcome="error",
            violations=(violation,),
            obligations=work.obligations,
            reasons=[code],
            evidence_digest=work.evidence.evidence_digest,
            policy_digest=work.policy_digest,
            engine=work.engine_name,
            day=work.today,
            error=message,
        )

    def _unrecorded(self, work: _Work, decision: Decision, *, root_only: bool = False) -> GateRun:
        """Outcome error for a run whose record could not (or may not) be written."""
        return GateRun(
            decision=decision,
            run_dir=self.layout.root if root_only else self.layout.run_dir(work.run_id),
            request=work.request,
            evidence=work.evidence,
            config=work.config,
            recorded=False,
            log_lines=work.log,
            policy_inputs=work.policy_inputs,
            flags=work.flags,
        )

    def _config(self, request: PromotionRequest, rid: str, policy_digest: str) -> dict[str, Any]:
        return {
            "schema_version": "1",
            "run_id": rid,
            "partition": request.partition.to_json_dict(),
            "asset_key": request.asset_key,
            "code_ref": request.code_ref,
            "container_digest": request.container_digest,
            "params": request.params,
            "inputs": [
                {"id": i.id, "sha256": i.sha256, "version": i.version, "kind": i.kind}
                for i in request.inputs
            ],
            "policy_digest": policy_digest,
            "settings": self.settings.snapshot(),
            "environment": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "packages": self._versions.get(),
            },
            "engine": {"name": "embedded-opa", "revision": policy_digest.removeprefix("sha256:")},
        }

    def _reused(self, found: RecordedRun, request: PromotionRequest) -> GateRun:
        return GateRun(
            found.decision,
            found.folder,
            request,
            found.evidence,
            found.config,
            reused=True,
            flags=found.flags,
            policy_inputs=found.policy_inputs,
            ledger=found.receipt,
        )

    def _reject(
        self,
        raw: bytes | str | Mapping[str, Any] | PromotionRequest,
        err: KfmGateError,
        today: dt.date,
    ) -> GateRun:
        """A request that cannot be parsed is recorded like any other error (an attempt with
        PROV, OpenLineage and a ledger entry), named by the digest of its bytes only."""
        if isinstance(raw, bytes):
            data = raw
        elif isinstance(raw, str):
            data = raw.encode("utf-8", "replace")
        else:
            try:
                data = json.dumps(raw, sort_keys=True, default=str).encode("utf-8")
            except (TypeError, ValueError, RecursionError):
                try:
                    data = repr(raw).encode("utf-8", "replace")
                except RecursionError:  # nested past the interpreter's limit
                    data = b"<request nested too deeply to serialize>"
        raw_digest = sha256_bytes(data)
        rid = invalid_request_id(raw_digest)
        code = err.reason_code
        violation = Violation(
            rule="gate.input", code=code, msg=str(err), severity="critical", details={}
        )
        decision = build_decision(
            run_id=rid,
            outcome="error",
            partition={},
            asset_key="unknown",
            request_digest=raw_digest,
            evidence_digest=Evidence().evidence_digest,
            violations=(violation,),
            reasons=[code],
            policy_digest=NO_POLICY_DIGEST,
            engine="none",
            day=today,
            error=str(err),
        )
        config: dict[str, Any] = {
            "schema_version": "1",
            "run_id": rid,
            "settings": self.settings.snapshot(),
        }
        draft = RunDraft(
            decision=decision,
            request=None,
            # never the raw request: it may be huge or hold sensitive values
            request_doc={"invalid": True, "size_bytes": len(data), "sha256": raw_digest},
            config=config,
            evidence=Evidence(),
            policy_inputs={},
            log=f"request rejected: {err}\n",
        )
        try:
            self._preflight(rid)
            recorded = self.store.record(draft)
        except (KfmGateError, OSError):
            return GateRun(decision, self.layout.root, None, Evidence(), config, recorded=False)
        return GateRun(
            decision, recorded.run.folder, None, Evidence(), config, ledger=recorded.ledger
        )


def _request_fields(request: PromotionRequest) -> dict[str, Any]:
    """The request's part of a decision: partition, asset key, request digest."""
    return {
        "partition": {
            "aoi_key": request.partition.aoi_key,
            "time_key": request.partition.time_key,
        },
        "asset_key": request.asset_key,
        "request_digest": request.request_digest,
    }


def build_gate(
    root: Path,
    *,
    policy_dir: Path | None = None,
    as_of: dt.date | None = None,
    force: bool = False,
    engine: PolicyEngine | None = None,
    collectors: Sequence[Collector] | None = None,
    obligation_engines: Sequence[ObligationEngine] | None = None,
    geo_context: GeoContextProvider | None = None,
    aoi_ids: frozenset[str] | None = None,
    options: Mapping[str, Any] | None = None,
    store: RunStore | None = None,
) -> Gate:
    """A gate over repository ``root`` with the project's default parts."""
    root = root.resolve()
    settings = GateSettings(
        root=root,
        policy_dir=(policy_dir or root / "policies").resolve(),
        as_of=as_of,
        force=force,
        aoi_ids=aoi_ids,
        options=dict(options or {}),
    )
    return Gate(
        settings,
        engine=engine,
        collectors=collectors,
        obligation_engines=obligation_engines or (),
        geo_context=geo_context,
        store=store,
    )
