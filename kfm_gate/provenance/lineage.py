"""OpenLineage run events of a gate run: START, then COMPLETE (a decision was taken) or FAIL.

The events are built with openlineage-python's event classes. ``runId`` is a UUIDv5 of
``<run id>|<request digest>`` (the run's spec hash), so re-running a partition gives the same
events byte for byte. Custom facet ``kfm_decision`` carries the decision (codes and digests);
the candidate's input facets carry the quality suite's assertions; every dataset carries its
governance flags as tags. Events go to files in the run folder (:class:`FileLineageSink`) and,
when configured, to an OpenLineage HTTP endpoint such as Marquez (:class:`HttpLineageSink`).

Outcome mapping: ``allow``, ``deny`` and ``quarantine`` end with COMPLETE (the gate did its job;
a denial is data), ``error`` ends with FAIL and an ``errorMessage`` facet.

A request that could not be parsed (``record.request is None``) gives job
``kfm-gate.invalid-request``, the nominal time of the evaluation day, one input dataset named
by the digest of the submitted bytes (``invalid-request/<24 hex>``) and no outputs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kfm_gate.errors import ConfigError, RecordError
from kfm_gate.ids import short_digest
from kfm_gate.provenance.prov import iter_flag_tags
from kfm_gate.provenance.record import RunRecord

NAMESPACE = "kfm"
#: UUIDv5 namespace of kfm-gate run ids
RUN_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://kfm.example/kfm-gate/runs")
FACET_SCHEMA_URL = (
    "https://kfm.example/schemas/kfm-gate/KfmDecisionRunFacet.json#/$defs/KfmDecisionRunFacet"
)
EVENTS_DIR = "openlineage"
#: job of the runs whose request could not be parsed (there is no asset key to name it)
INVALID_REQUEST_JOB = "kfm-gate.invalid-request"


def producer(version: str) -> str:
    return f"https://kfm.example/kfm-gate/v{version}"


def run_uuid(run_id: str, spec_hash: str) -> str:
    """The OpenLineage ``runId``: UUIDv5 of ``<run id>|<spec hash>``."""
    return str(uuid.uuid5(RUN_UUID_NAMESPACE, f"{run_id}|{spec_hash}"))


@cache
def _decision_facet_class() -> type[Any]:
    import attr
    from openlineage.client.generated.base import RunFacet

    @attr.define
    class KfmDecisionRunFacet(RunFacet):
        outcome: str
        kfm_outcome: str
        lifecycle_stage: str
        decision_id: str
        run_id: str
        asset_key: str
        partition_key: str
        policy_digest: str
        policy_revision: str
        request_digest: str
        evidence_digest: str
        engine: str
        evaluated_at: str
        reason_codes: list[str]
        obligations: list[str]
        violations: list[dict[str, str]]
        warnings_count: int
        waived: list[dict[str, str]]
        error: str | None = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL

    return KfmDecisionRunFacet


def _tags(flags_pairs: Sequence[tuple[str, str]], source: str) -> Any:
    from openlineage.client.generated.tags_dataset import TagsDatasetFacet, TagsDatasetFacetFields

    return TagsDatasetFacet(
        tags=[TagsDatasetFacetFields(key=k, value=v, source=source) for k, v in flags_pairs],
        producer=_PRODUCER[0],
    )


_PRODUCER = [""]


def _next_day(day: str) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def build_run_events(record: RunRecord) -> list[dict[str, Any]]:
    """The START and COMPLETE/FAIL events of one run, as JSON-ready dicts."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.generated.data_quality_assertions_dataset import (
        Assertion,
        DataQualityAssertionsDatasetFacet,
    )
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
    from openlineage.client.generated.job_type_job import JobTypeJobFacet
    from openlineage.client.generated.nominal_time_run import NominalTimeRunFacet
    from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet
    from openlineage.client.serde import Serde

    req, dec = record.request, record.decision
    prod = producer(record.version)
    _PRODUCER[0] = prod
    rid = run_uuid(dec.run_id, dec.request_digest)
    # a request that could not be parsed has no partition: its nominal day is the evaluation's
    day = dec.evaluated_at[:10] if req is None else req.partition.time_key
    job = Job(
        namespace=NAMESPACE,
        name=INVALID_REQUEST_JOB if req is None else f"kfm-gate.{req.asset_key}",
        facets={
            "jobType": JobTypeJobFacet(
                processingType="BATCH", integration="KFM_GATE", jobType="GATE", producer=prod
            )
        },
    )
    base_run_facets: dict[str, Any] = {
        "nominalTime": NominalTimeRunFacet(
            nominalStartTime=f"{day}T00:00:00Z",
            nominalEndTime=f"{_next_day(day)}T00:00:00Z",
            producer=prod,
        ),
        "processing_engine": ProcessingEngineRunFacet(
            version=record.version, name="kfm-gate", producer=prod
        ),
    }

    inputs: list[Any] = []
    outputs: list[Any] = []
    if req is None:
        inputs.append(
            InputDataset(
                namespace=NAMESPACE,
                # the digest of the submitted bytes names it; their content is never recorded
                name="invalid-request/" + short_digest(dec.request_digest),
                facets={
                    "version": DatasetVersionDatasetFacet(
                        datasetVersion=dec.request_digest, producer=prod
                    )
                },
            )
        )
    else:
        for inp in sorted(req.inputs, key=lambda i: i.id):
            facets: dict[str, Any] = {
                "version": DatasetVersionDatasetFacet(
                    datasetVersion=inp.version or inp.sha256, producer=prod
                )
            }
            pairs = list(iter_flag_tags(inp.flags))
            if pairs:
                facets["tags"] = _tags(pairs, inp.id)
            inputs.append(InputDataset(namespace=NAMESPACE, name=inp.id, facets=facets))

        effective = list(iter_flag_tags(record.flags))
        candidate_facets: dict[str, Any] = {}
        if effective:
            candidate_facets["tags"] = _tags(effective, "kfm-gate:effective_flags")
        input_facets: dict[str, Any] = {}
        quality = record.evidence.sections.get("quality")
        if quality is not None and quality.status == "ok":
            assertions = [
                Assertion(
                    assertion=str(e.get("type", "unknown")),
                    success=bool(e.get("success")),
                    column=e.get("column") if isinstance(e.get("column"), str) else None,
                    actual=str(e["unexpected_count"]) if "unexpected_count" in e else None,
                    expected="0" if "unexpected_count" in e else None,
                )
                for e in quality.data.get("expectations", []) or []
                if isinstance(e, Mapping)
            ]
            input_facets["dataQualityAssertions"] = DataQualityAssertionsDatasetFacet(
                assertions=assertions, producer=prod
            )
        p = req.partition
        inputs.append(
            InputDataset(
                namespace=NAMESPACE,
                name=f"{req.asset_key}/{p.aoi_key}/{p.time_key}",
                facets=candidate_facets,
                inputFacets=input_facets,
            )
        )
        if dec.outcome == "allow":
            out_facets: dict[str, Any] = {
                "version": DatasetVersionDatasetFacet(datasetVersion=dec.decision_id, producer=prod)
            }
            if effective:
                out_facets["tags"] = _tags(effective, "kfm-gate:effective_flags")
            outputs.append(
                OutputDataset(
                    namespace=NAMESPACE,
                    name=f"stac/{record.collection_id}/{record.item_id}",
                    facets=out_facets,
                )
            )

    facet_cls = _decision_facet_class()
    decision_facet = facet_cls(
        outcome=dec.outcome,
        kfm_outcome=dec.kfm_outcome,
        lifecycle_stage=dec.lifecycle_stage,
        decision_id=dec.decision_id,
        run_id=dec.run_id,
        asset_key=dec.asset_key,
        partition_key=record.partition_key,
        policy_digest=dec.policy_digest,
        policy_revision=record.revision,
        request_digest=dec.request_digest,
        evidence_digest=dec.evidence_digest,
        engine=dec.engine,
        evaluated_at=dec.evaluated_at,
        reason_codes=sorted(set(dec.reason_codes)),
        obligations=sorted({o.code for o in dec.obligations}),
        violations=[
            {"rule": v.rule, "code": v.code, "severity": v.severity} for v in dec.violations
        ],
        warnings_count=len(dec.warnings),
        waived=[{"waiver_id": w.waiver_id, "rule": w.rule, "code": w.code} for w in dec.waived],
        error=dec.error[:2000] if dec.error else None,
        producer=prod,
    )
    end_facets = {**base_run_facets, "kfm_decision": decision_facet}
    final = RunState.COMPLETE
    if dec.outcome == "error":
        final = RunState.FAIL
        end_facets["errorMessage"] = ErrorMessageRunFacet(
            message=(dec.error or "kfm-gate failed")[:2000],
            programmingLanguage="PYTHON",
            producer=prod,
        )
    start = RunEvent(
        eventType=RunState.START,
        eventTime=record.started_at,
        run=Run(runId=rid, facets=dict(base_run_facets)),
        job=job,
        inputs=inputs,
        outputs=[],
        producer=prod,
    )
    end = RunEvent(
        eventType=final,
        eventTime=record.ended_at,
        run=Run(runId=rid, facets=end_facets),
        job=job,
        inputs=inputs,
        outputs=outputs,
        producer=prod,
    )
    return [Serde.to_dict(start), Serde.to_dict(end)]


def event_bytes(event: Mapping[str, Any]) -> bytes:
    """An event as stable JSON bytes (sorted keys)."""
    from kfm_gate.jsonfmt import dumps_indent

    return (dumps_indent(event, 1) + "\n").encode("utf-8")


def event_files(events: Sequence[Mapping[str, Any]]) -> dict[str, bytes]:
    """``{'openlineage/01-START.json': ..., 'openlineage/02-COMPLETE.json': ...}``."""
    return {
        f"{EVENTS_DIR}/{n:02d}-{e['eventType']}.json": event_bytes(e)
        for n, e in enumerate(events, start=1)
    }


@runtime_checkable
class LineageSink(Protocol):
    """Where OpenLineage events go."""

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None: ...


class FileLineageSink:
    """The default: one JSON file per event under ``<run dir>/openlineage/``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        from kfm_gate.layout import atomic_write

        for rel, data in event_files(events).items():
            atomic_write(self.run_dir / rel, data)


class HttpLineageSink:
    """POST events to an OpenLineage HTTP endpoint (e.g. Marquez) with openlineage's transport."""

    def __init__(
        self,
        url: str,
        *,
        endpoint: str = "api/v1/lineage",
        timeout: float = 5.0,
        api_key: str | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"openlineage url {url!r} is not an http(s) URL; e.g. http://localhost:5000"
            )
        self.url, self.endpoint, self.timeout, self.api_key = url, endpoint, timeout, api_key
        self.retry = dict(retry or {"total": 0})  # urllib3 Retry settings of one POST

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        params: dict[str, Any] = {
            "url": self.url,
            "endpoint": self.endpoint,
            "timeout": self.timeout,
            "retry": self.retry,
        }
        if self.api_key:
            params["auth"] = {"type": "api_key", "apiKey": self.api_key}
        transport = HttpTransport(HttpConfig.from_dict(params))
        try:
            for event in events:
                try:
                    # Serde.to_json accepts a dict as it is: the bytes sent are our event's
                    transport.emit(dict(event))  # type: ignore[arg-type]
                except Exception as err:  # requests raises many types: all mean "not delivered"
                    raise RecordError(
                        f"OpenLineage event {event.get('eventType')} not delivered to "
                        f"{self.url}/{self.endpoint}: {err}; the events are in the run folder"
                    ) from err
        finally:
            transport.close()


def build_lineage_sinks(config: Mapping[str, Any], run_dir: Path) -> list[LineageSink]:
    """File sink always; plus an HTTP sink when ``config['openlineage']['url']`` is set."""
    sinks: list[LineageSink] = [FileLineageSink(run_dir)]
    ol = config.get("openlineage") or {}
    if not isinstance(ol, Mapping):
        raise ConfigError("config 'openlineage' must be a mapping with 'url' (and 'endpoint')")
    if ol.get("url"):
        sinks.append(
            HttpLineageSink(
                str(ol["url"]),
                endpoint=str(ol.get("endpoint", "api/v1/lineage")),
                timeout=float(ol.get("timeout", 5.0)),
                api_key=ol.get("api_key"),
                retry=ol.get("retry"),
            )
        )
    return sinks
