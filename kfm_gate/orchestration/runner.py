"""Run the pipeline in-process, one partition per run, against a persistent Dagster instance.

Used by ``kfm-gate demo``, the tests and the benchmark. Runs land in the instance's storage
(``DAGSTER_HOME``), so ``dagster dev`` on the same home shows them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from kfm_gate.errors import KfmGateError
from kfm_gate.orchestration.assets import PUBLISHED_KEY
from kfm_gate.orchestration.instance import open_instance as open_instance  # demo, benches
from kfm_gate.orchestration.instance import partition_tags
from kfm_gate.orchestration.partitions import AOI_PARTITIONS_NAME, PartitionRef
from kfm_gate.orchestration.pipeline import PARTITION_JOB, SOURCE_JOB, build_definitions
from kfm_gate.orchestration.processing import request_path
from kfm_gate.orchestration.publication import expected_run_id, load_request, publisher_of
from kfm_gate.orchestration.resources import KfmGateResource

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class PartitionOutcome:
    """What one partition run gave."""

    partition: str
    success: bool
    outcome: str  # allow | deny | quarantine | error | failed (no decision)
    run_id: str | None
    decision_id: str | None
    obligations: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    published: bool = False
    reused: bool = False
    dagster_run_id: str = ""
    seconds: float = 0.0
    error: str | None = None


class PipelineRunner:
    """The definitions of one repository and an instance to run them in."""

    def __init__(
        self,
        root: Path,
        instance: dg.DagsterInstance,
        *,
        resource: KfmGateResource | None = None,
        quiet: bool = True,
    ) -> None:
        self.root = root.resolve()
        self.instance = instance
        self.resource = resource or KfmGateResource(root=str(self.root))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            self.defs = build_definitions(self.root, resource=self.resource)
        self.run_config: dict[str, Any] = dict(QUIET) if quiet else {}

    def register_aois(self, aoi_ids: Iterable[str]) -> list[str]:
        """Add AOIs not yet known as dynamic partitions; returns those added."""
        known = set(self.instance.get_dynamic_partitions(AOI_PARTITIONS_NAME))
        new = sorted(set(aoi_ids) - known)
        if new:
            self.instance.add_dynamic_partitions(AOI_PARTITIONS_NAME, new)
        return new

    def snapshot_sources(self) -> bool:
        job = self.defs.resolve_job_def(SOURCE_JOB)
        result = job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=self.run_config
        )
        return bool(result.success)

    def run_partition(
        self, aoi_key: str, day: str, *, promotion_only: bool = False
    ) -> PartitionOutcome:
        """One run of the partition job (or of the promotion asset alone) for ``aoi|day``."""
        ref = PartitionRef(aoi_key, day)
        job = self.defs.resolve_job_def(PARTITION_JOB)
        selection = [PUBLISHED_KEY] if promotion_only else None
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            result = job.execute_in_process(
                partition_key=ref.multi_key(),
                instance=self.instance,
                raise_on_error=False,
                run_config=self.run_config,
                asset_selection=selection,
                tags=partition_tags(aoi_key),
            )
        seconds = time.perf_counter() - start
        out = self.outcome(aoi_key, day)
        out.success = bool(result.success)
        out.dagster_run_id = result.run_id
        out.seconds = seconds
        out.reused = any(
            bool(getattr(ev.metadata.get("kfm/reused"), "value", False))
            for ev in result.get_asset_check_evaluations()
        )
        if not result.success and out.error is None:
            out.error = _first_failure(result)
        return out

    def outcome(self, aoi_key: str, day: str) -> PartitionOutcome:
        """The gate's recorded decision for the partition's current request, if any, and
        whether the publisher published it."""
        key = f"{aoi_key}|{day}"
        try:
            request = load_request(request_path(self.root, aoi_key, day))
            gate = self.resource.gate()
            rid = expected_run_id(gate, request)
            record = gate.store.current(rid)
            if record is not None and record.decision.request_digest != request.request_digest:
                record = None  # taken on another request: not this partition's decision
            state = publisher_of(gate).state(request)
        except KfmGateError as err:
            return PartitionOutcome(key, False, "failed", None, None, error=str(err))
        if record is None:
            latest = gate.store.latest(rid)
            if latest is not None and latest.outcome == "error":
                decision = latest.decision
                return PartitionOutcome(
                    key,
                    False,
                    "error",
                    decision.run_id,
                    decision.decision_id,
                    reasons=list(decision.reason_codes),
                    error=decision.error,
                )
            return PartitionOutcome(key, False, "failed", rid, None, error="no decision recorded")
        decision = record.decision
        return PartitionOutcome(
            partition=key,
            success=False,
            outcome=decision.outcome,
            run_id=decision.run_id,
            decision_id=decision.decision_id,
            obligations=sorted({o.code for o in decision.obligations}),
            reasons=list(decision.reason_codes),
            published=state is not None
            and state.published
            and state.decision_id == decision.decision_id,
        )


def _first_failure(result: Any) -> str:
    """The message of the deepest cause of the first failed step (one line)."""
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        err = getattr(event.event_specific_data, "error", None)
        while err is not None and getattr(err, "cause", None) is not None:
            err = err.cause
        if err is None:
            return "step failed"
        text = str(err.message).strip()
        return (text.splitlines() or ["step failed"])[0]
    return "run failed"
