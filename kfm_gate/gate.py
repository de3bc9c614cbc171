"""The gate: one partition through the flow of DESIGN.md, failing closed.

1. parse and validate the request (partition keys against the AOI registry);
2. derive the deterministic run id; reuse a recorded decision (idempotent);
3. join the governance flags (inputs, AOI, sensitive zones);
4. policy phase 1: obligations;
5. stage the public view and apply the obligations to it;
6. collect evidence on it;
7. policy phase 2: the decision;
8. record the run (every outcome);
9. promote the public view and the catalog records on ``allow`` only.

Any exception anywhere gives outcome ``error``, which blocks like ``deny``, and the record is
still written. Nothing here knows Rego, Presidio or Dagster: they sit behind the protocols.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
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
from typing import Any

from pydantic import ValidationError

from kfm_gate.context import Collector, GateContext, ObligationEngine, PendingSection, ViewFile
from kfm_gate.errors import (
    CollectorError,
    InputError,
    KfmGateError,
    PolicyEvalError,
)
from kfm_gate.ids import (
    decision_id,
    invalid_request_id,
    run_folder_name,
    run_id,
    sha256_bytes,
    validate_aoi_key,
)
from kfm_gate.layout import PROCESSED, Layout
from kfm_gate.limits import LIMITS, call_with_deadline
from kfm_gate.models import (
    KFM_OUTCOME,
    LIFECYCLE,
    Decision,
    Evidence,
    EvidenceSection,
    GovernanceFlags,
    Obligation,
    PromotionRequest,
    Violation,
    Waived,
    join_flags,
)
from kfm_gate.policy.bundle import PolicySet, load_policy_set
from kfm_gate.policy.engine import DECISION_PATH, OBLIGATIONS_PATH, PolicyEngine
from kfm_gate.policy.waivers import load_waivers, waivers_policy_input
from kfm_gate.runs import RunStore, dumps

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

#: what a geo-context provider returns: the policy's ``geo`` input and zone/AOI flags to join
#: (request, repository root, the run's memo) -> (geo context, flags of the zones touched)
GeoContextProvider = Callable[
    [PromotionRequest, Path, dict[str, Any]], tuple[dict[str, Any], list[GovernanceFlags]]
]
#: called after every decision with the finished run and whether to publish its catalog entries
Recorder = Callable[["GateRun", bool], None]


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
    """The result of one gate run (what the CLI renders and the recorder persists)."""

    decision: Decision
    run_dir: Path
    request: PromotionRequest | None
    evidence: Evidence
    config: dict[str, Any]
    reused: bool = False
    context: GateContext | None = None
    public_files: list[Path] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    #: the documents given to the policy: {"obligations": phase-1 input, "decision": phase-2}
    policy_inputs: dict[str, Any] = field(default_factory=dict)
    #: the effective (joined) flags, None when missing
    flags: GovernanceFlags | None = None
    #: what the recorder reported (provenance files, ledger entry, catalog paths)
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.decision.exit_code


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """Versions of the recorded packages; looked up once per process (they cannot change)."""
    out = {}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return tuple(out.items())


def _versions() -> dict[str, str]:
    return dict(_installed_versions())


def parse_request(raw: bytes | str | Mapping[str, Any] | PromotionRequest) -> PromotionRequest:
    """A PromotionRequest from bytes, text, a dict or a request; InputError with one clear line."""
    if isinstance(raw, PromotionRequest):
        return raw
    return PromotionRequest.from_raw(raw)  # bounded: kfm_gate.limits


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
        recorder: Recorder | None = None,
    ) -> None:
        self.settings = settings
        self.layout = Layout(settings.root)
        self.store = RunStore(self.layout)
        self._engine = engine
        self._owns_engine = engine is not None
        self._engine_error: KfmGateError | None = None
        if collectors is None:
            from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

            collectors = (ChecksumCollector(), PlacementCollector())
        self.collectors = tuple(collectors)
        self.obligation_engines = tuple(obligation_engines)
        self.geo_context = geo_context
        self.recorder = recorder
        self._policies: PolicySet | None = None

    # -- policy set and engine (loaded once, reused) ----------------------------------

    @property
    def policies(self) -> PolicySet:
        if self._policies is None:
            self._policies = (
                self._engine.policies
                if self._engine is not None and hasattr(self._engine, "policies")
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
        log: list[str] = []
        try:
            request = parse_request(raw)
            if self.settings.aoi_ids is not None:
                validate_aoi_key(request.partition.aoi_key, self.settings.aoi_ids)
        except KfmGateError as err:
            return self._record_invalid_request(raw, err, today)

        policy_error: KfmGateError | None = None
        try:
            policy_digest = self.policies.digest
        except KfmGateError as err:  # recorded as outcome error by _run
            policy_digest = "sha256:" + "0" * 64
            policy_error = err
        rid = self.run_id_for(request, policy_digest)
        folder = run_folder_name(rid)
        with self.layout.run_lock(folder):
            if not self.settings.force:
                existing = self.store.load_decision(rid)
                if existing is not None:
                    return self._reused(rid, request, existing)
            return self._run(request, rid, policy_digest, today, log, policy_error)

    def _run(
        self,
        request: PromotionRequest,
        rid: str,
        policy_digest: str,
        today: dt.date,
        log: list[str],
        policy_error: KfmGateError | None = None,
    ) -> GateRun:
        config = self._config(request, rid, policy_digest)
        evidence = Evidence()
        obligations: tuple[Obligation, ...] = ()
        ctx: GateContext | None = None
        staging: Path | None = None
        policy_inputs: dict[str, Any] = {}
        flags: GovernanceFlags | None = None
        engine_name = "embedded-opa"
        memo: dict[str, Any] = {}  # the run's memo (GateContext.memo), from the flags on

        def note(message: str) -> None:
            log.append(message)

        note(f"run {rid} partition {request.partition.aoi_key}|{request.partition.time_key}")
        note(f"asset {request.asset_key}; policy digest {policy_digest}")
        try:
            if policy_error is not None:
                raise policy_error
            engine = self.engine()
            engine_name = engine.name
            config["engine"] = {"name": engine.name, "revision": engine.revision}
            flags, flags_missing, geo = self._flags(request, note, memo)
            base_input = policy_input(request, flags, flags_missing, geo, today)
            policy_inputs["obligations"] = base_input
            raw_obligations = engine.evaluate(OBLIGATIONS_PATH, base_input)
            _note_engine_ids(engine, "obligations", config)
            obligations = parse_obligations(raw_obligations)
            note(
                f"phase 1: {len(obligations)} obligation(s): "
                + ", ".join(o.code for o in obligations)
            )

            staging, files = self._stage(request, rid)
            ctx = GateContext(
                request=request,
                root=self.layout.root,
                run_id=rid,
                files=files,
                flags=flags,
                geo=geo,
                obligations=obligations,
                settings={**self.settings.options, "_log": note},
                policy_dir=self.settings.policy_dir,
                memo=memo,
            )
            early = self._start_early(replace(ctx, changing_columns=self._changing(obligations)))
            try:
                applied = self._apply_obligations(ctx, obligations, note)
            except BaseException:
                for handle in early.values():  # nothing will wait for them
                    handle.cancel()
                raise
            ctx = replace(ctx, applied=applied)
            evidence = self._collect(ctx, applied, note, early)

            waivers = load_waivers(self.settings.policy_dir)
            decision_input = {
                **base_input,
                "obligations": [o.to_json_dict() for o in obligations],
                "evidence": evidence.to_policy_input(),
                "waivers": waivers_policy_input(waivers, today),
            }
            policy_inputs["decision"] = decision_input
            raw_decision = engine.evaluate(DECISION_PATH, decision_input)
            _note_engine_ids(engine, "decision", config)
            decision = self._decision(
                request, rid, raw_decision, obligations, evidence, policy_digest, engine_name, today
            )
            engine_info = config.get("engine", {})
            if engine_info.get("decision_ids") or engine_info.get("server_revision"):
                # OPA's own ids are provenance, not content: kept out of the decision id digest
                decision = decision.model_copy(
                    update={
                        "engine_decision_ids": dict(engine_info.get("decision_ids", {})),
                        "engine_revision": engine_info.get("server_revision"),
                    }
                )
            note(f"phase 2: outcome {decision.outcome}; {len(decision.violations)} violation(s)")
        except Exception as err:  # fail closed: every failure becomes outcome "error"
            decision = self._error_decision(
                request, rid, err, obligations, evidence, policy_digest, engine_name, today, note
            )
            note("traceback (frames only):")
            for frame in traceback.extract_tb(err.__traceback__):
                note(
                    f"  {_rel(Path(frame.filename), self.layout.root)}:{frame.lineno} in {frame.name}"
                )

        run = GateRun(
            decision=decision,
            run_dir=self.store.run_dir(rid),
            request=request,
            evidence=evidence,
            config=config,
            context=ctx,
            log_lines=log,
            policy_inputs=policy_inputs,
            flags=flags,
        )
        self._finish(run, staging)
        return run

    # -- steps -------------------------------------------------------------------------

    def _flags(
        self, request: PromotionRequest, note: Callable[[str], None], memo: dict[str, Any]
    ) -> tuple[GovernanceFlags | None, list[str], dict[str, Any]]:
        parts = [i.flags.with_origin(f"input:{i.id}") for i in request.inputs if i.flags]
        missing = sorted(i.id for i in request.inputs if i.flags is None)
        geo: dict[str, Any] = {}
        if self.geo_context is not None:
            geo, extra = self.geo_context(request, self.layout.root, memo)
            parts.extend(extra)
        if missing:
            note(f"inputs without flags: {', '.join(missing)}")
        if not parts or not request.inputs:
            return None, missing or ["<no inputs>"], geo
        return join_flags(parts), missing, geo

    def _stage(self, request: PromotionRequest, rid: str) -> tuple[Path, tuple[ViewFile, ...]]:
        """Copy the candidate outputs into a staging folder: the public view before masking."""
        part = request.partition
        base = f"{PROCESSED}/{request.pipeline}/{request.dataset}/{part.aoi_key}/{part.time_key}"
        staging = self.layout.resolve_relative(f"{base}/.staging/{run_folder_name(rid)}")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        files = []
        names: set[str] = set()
        for out in request.outputs:
            candidate = self.layout.root / out.path
            name = Path(out.path).name
            if name in names:
                raise InputError(f"two outputs are named {name!r}: output file names must differ")
            names.add(name)
            public = staging / name
            if not candidate.is_file() or candidate.is_symlink():
                continue  # the checksum evidence reports it missing, and the policy denies
            shutil.copyfile(candidate, public)
            files.append(ViewFile(out.path, candidate, public, out.media_type, out.role))
        return staging, tuple(files)

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
                changed = getattr(eng, "changed_columns", None)
                found = changed(ob) if callable(changed) else None
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
        """Call ``start`` of every collector that has one and is not in ``pending`` yet; the
        handles go into ``pending``. On a failure every handle in ``pending`` is cancelled."""
        try:
            for collector in self.collectors:
                start = getattr(collector, "start", None)
                if callable(start) and collector.name not in pending:
                    handle = _guarded(collector.name, lambda s=start: s(ctx))
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
        """Run every collector; a collector with ``start`` works in the background meanwhile.

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

    def _decision(
        self,
        request: PromotionRequest,
        rid: str,
        raw: Any,
        obligations: tuple[Obligation, ...],
        evidence: Evidence,
        policy_digest: str,
        engine_name: str,
        today: dt.date,
    ) -> Decision:
        if not isinstance(raw, Mapping) or raw.get("outcome") not in (
            "allow",
            "deny",
            "quarantine",
        ):
            raise PolicyEvalError(
                "data.kfm.gate.decision must be an object with outcome allow|deny|quarantine, "
                f"got {json.dumps(raw)[:200]}"
            )
        try:
            violations = tuple(Violation.model_validate(v) for v in raw.get("violations", []))
            warnings = tuple(Violation.model_validate(v) for v in raw.get("warnings", []))
            quarantine = tuple(Violation.model_validate(v) for v in raw.get("quarantine", []))
            waived = tuple(Waived.model_validate(w) for w in raw.get("waived", []))
        except ValidationError as err:
            raise PolicyEvalError(f"the policy returned a malformed violation: {err}") from err
        outcome = str(raw["outcome"])
        reasons = sorted({v.code for v in violations} | {q.code for q in quarantine})
        if outcome == "quarantine":
            violations = violations + quarantine
        return _build_decision(
            **_request_fields(request),
            rid=rid,
            outcome=outcome,
            violations=violations,
            warnings=warnings,
            waived=waived,
            obligations=obligations,
            reasons=reasons,
            evidence_digest=evidence.evidence_digest,
            policy_digest=policy_digest,
            engine_name=engine_name,
            today=today,
            error=None,
        )

    def _error_decision(
        self,
        request: PromotionRequest,
        rid: str,
        err: BaseException,
        obligations: tuple[Obligation, ...],
        evidence: Evidence,
        policy_digest: str,
        engine_name: str,
        today: dt.date,
        note: Callable[[str], None],
    ) -> Decision:
        code = getattr(err, "reason_code", "GATE_INTERNAL_ERROR")
        if isinstance(err, KfmGateError):
            message = str(err)
        else:
            message = f"internal error {type(err).__name__}: {err}"
        location = getattr(err, "location", None)
        details: dict[str, Any] = {"error_type": type(err).__name__}
        if location:
            details["location"] = location
        note(f"ERROR {code}: {message}")
        violation = Violation(
            rule="gate.error", code=code, msg=message, severity="critical", details=details
        )
        return _build_decision(
            **_request_fields(request),
            rid=rid,
            outcome="error",
            violations=(violation,),
            warnings=(),
            waived=(),
            obligations=obligations,
            reasons=[code],
            evidence_digest=evidence.evidence_digest,
            policy_digest=policy_digest,
            engine_name=engine_name,
            today=today,
            error=message,
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
                "packages": _versions(),
            },
            "engine": {"name": "embedded-opa", "revision": policy_digest.removeprefix("sha256:")},
        }

    def _finish(self, run: GateRun, staging: Path | None) -> None:
        """Record the run (every outcome), then publish on allow only; fail closed."""
        request = run.request
        assert request is not None
        decision = run.decision
        promoted: list[Path] = []
        try:
            if decision.outcome == "allow" and staging is not None:
                promoted = self._promote(request, run.decision.run_id, staging)
                run.public_files = promoted
            run.log_lines.append(
                f"promoted {len(promoted)} file(s)" if promoted else "nothing promoted"
            )
            self._write_record(run)
            if self.recorder is not None:
                self.recorder(run, decision.outcome == "allow")
        except Exception as err:
            # Recording or publishing failed: withdraw the public view, record an error.
            for path in promoted:
                with contextlib.suppress(OSError):
                    path.unlink()
            with contextlib.suppress(OSError):
                if promoted:
                    promoted[0].parent.rmdir()
            run.public_files = []
            run.decision = self._error_decision(
                request,
                decision.run_id,
                err,
                decision.obligations,
                run.evidence,
                decision.policy_digest,
                decision.engine,
                self.settings.today(),
                run.log_lines.append,
            )
            self._write_record(run)
            if self.recorder is not None:
                try:
                    self.recorder(run, False)
                except Exception as again:  # the record files above still hold the error
                    run.log_lines.append(f"provenance of the error could not be written: {again}")
                    self._write_record(run)
        finally:
            if staging is not None and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _promote(self, request: PromotionRequest, rid: str, staging: Path) -> list[Path]:
        part = request.partition
        target = self.layout.resolve_relative(
            f"{PROCESSED}/{request.pipeline}/{request.dataset}/{part.aoi_key}/{part.time_key}"
            f"/public/{run_folder_name(rid)}"
        )
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)  # atomic on one filesystem: all files appear at once
        return sorted(p for p in target.iterdir() if p.is_file())

    def _write_record(self, run: GateRun) -> None:
        assert run.request is not None
        files = {
            "request.json": dumps(run.request.to_json_dict()),
            "config.json": dumps(run.config),
            "evidence.json": dumps(run.evidence.to_json_dict()),
            "run.log": "\n".join(run.log_lines) + "\n",
            "policy_input.json": dumps(run.policy_inputs),
            "decision.json": dumps(run.decision.to_json_dict()),
        }
        run.run_dir = self.store.write(run.decision.run_id, files)

    def _reused(self, rid: str, request: PromotionRequest, decision: Decision) -> GateRun:
        folder = self.store.run_dir(rid)
        evidence = Evidence.model_validate_json((folder / "evidence.json").read_text("utf-8"))
        config = RunStore.read_json(folder, "config.json")
        return GateRun(decision, folder, request, evidence, config, reused=True)

    def _record_invalid_request(
        self,
        raw: bytes | str | Mapping[str, Any] | PromotionRequest,
        err: KfmGateError,
        today: dt.date,
    ) -> GateRun:
        """A request that cannot be parsed still gets a run record, outcome error, and (with a
        recorder) PROV, OpenLineage and a ledger entry naming it by the digest of its bytes."""
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
        decision = _build_decision(
            rid=rid,
            outcome="error",
            partition={},
            asset_key="unknown",
            request_digest=raw_digest,
            evidence_digest=Evidence().evidence_digest,
            violations=(violation,),
            reasons=[code],
            policy_digest="sha256:" + "0" * 64,
            engine_name="none",
            today=today,
            error=str(err),
        )
        config: dict[str, Any] = {
            "schema_version": "1",
            "run_id": rid,
            "settings": self.settings.snapshot(),
        }
        files = {
            # never the raw request: it may be huge or hold sensitive values
            "request.json": dumps({"invalid": True, "size_bytes": len(data), "sha256": raw_digest}),
            "config.json": dumps(config),
            "evidence.json": dumps(Evidence().to_json_dict()),
            "run.log": f"request rejected: {err}\n",
            "decision.json": dumps(decision.to_json_dict()),
        }
        folder = self.store.write(rid, files)
        run = GateRun(decision, folder, None, Evidence(), config)
        if self.recorder is not None:
            # same bytes, same run id: the recorder rewrites identical records and appends no
            # second ledger entry for the same decision (under the repository's publish lock)
            try:
                self.recorder(run, False)
            except Exception as again:  # decision.json still holds the error
                files["run.log"] += f"provenance of the rejection could not be written: {again}\n"
                self.store.write(rid, files)
        return run


def _build_decision(
    *,
    rid: str,
    outcome: str,
    partition: Mapping[str, str],
    asset_key: str,
    request_digest: str,
    evidence_digest: str,
    violations: tuple[Violation, ...],
    reasons: list[str],
    policy_digest: str,
    engine_name: str,
    today: dt.date,
    error: str | None,
    warnings: tuple[Violation, ...] = (),
    waived: tuple[Waived, ...] = (),
    obligations: tuple[Obligation, ...] = (),
) -> Decision:
    """The one place a Decision is assembled; its id is a digest of everything else in it."""
    body: dict[str, Any] = {
        "outcome": outcome,
        "kfm_outcome": KFM_OUTCOME[outcome],
        "lifecycle_stage": LIFECYCLE[outcome],
        "run_id": rid,
        "partition": dict(partition),
        "asset_key": asset_key,
        "violations": [v.to_json_dict() for v in violations],
        "warnings": [w.to_json_dict() for w in warnings],
        "waived": [w.to_json_dict() for w in waived],
        "obligations": [o.to_json_dict() for o in obligations],
        "reason_codes": reasons,
        "policy_digest": policy_digest,
        "engine": engine_name,
        "evaluated_at": f"{today.isoformat()}T00:00:00Z",
        "request_digest": request_digest,
        "evidence_digest": evidence_digest,
        "error": error,
    }
    body["decision_id"] = decision_id(rid, body)
    return Decision.model_validate(body)


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


def _note_engine_ids(engine: PolicyEngine, phase: str, config: dict[str, Any]) -> None:
    """Keep what an OPA server said about an evaluation: its decision id and bundle revision."""
    decision_id_value = getattr(engine, "last_decision_id", None)
    revision = getattr(engine, "last_revision", None)
    info = config.setdefault("engine", {})
    if decision_id_value:
        info.setdefault("decision_ids", {})[phase] = str(decision_id_value)
    if revision:
        info["server_revision"] = str(revision)


def policy_input(
    request: PromotionRequest,
    flags: GovernanceFlags | None,
    flags_missing: list[str],
    geo: Mapping[str, Any],
    today: dt.date,
) -> dict[str, Any]:
    """The phase-1 input document (docs/policy-input.md)."""
    return {
        "request": request.to_json_dict(),
        "flags": None if flags is None else flags.to_json_dict(),
        "flags_missing": flags_missing,
        "geo": dict(geo),
        "now": f"{today.isoformat()}T00:00:00Z",
        "today": today.isoformat(),
    }


def parse_obligations(raw: Any) -> tuple[Obligation, ...]:
    """Validate and order a phase-1 result; PolicyEvalError when it is not obligations."""
    if isinstance(raw, Mapping):
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise PolicyEvalError(
            f"data.kfm.gate.obligations must be an array of obligations, got {type(raw).__name__}"
        )
    try:
        obligations = [Obligation.model_validate(o) for o in raw]
    except ValidationError as err:
        raise PolicyEvalError(f"the policy returned a malformed obligation: {err}") from err
    # a deterministic order (params as sorted-key JSON break ties); no digest needed here
    return tuple(
        sorted(
            obligations,
            key=lambda o: (o.code, o.kind, o.rule, json.dumps(o.params, sort_keys=True)),
        )
    )


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
    recorder: Recorder | None = None,
    aoi_ids: frozenset[str] | None = None,
    options: Mapping[str, Any] | None = None,
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
        recorder=recorder,
    )
