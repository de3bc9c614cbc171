"""OpenLineage FAIL events for pipeline steps that fail before the gate could decide.

The gate records lineage for every decision it takes (allow, deny, quarantine, error). A step
that fails *before* it (e.g. a raw file whose checksum no longer matches its manifest) still
leaves an event: ``mcp/lineage/<asset>/<aoi>/<day>/<dagster run id>-FAIL.json``. The event names
the step, the partition, the inputs and the error type and message (messages of kfm-gate
errors name files and fields, never a record's values).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from kfm_gate.layout import Layout

NAMESPACE = "kfm"
LINEAGE_DIR = "mcp/lineage"
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://kfm.example/kfm-gate/dagster-steps")


def write_failure_event(
    root: Path,
    *,
    asset_key: str,
    aoi_key: str,
    day: str,
    dagster_run_id: str,
    error: BaseException,
    inputs: Sequence[str] = (),
    event_time: str | None = None,
) -> Path:
    """Write one FAIL event for a failed step; returns its path."""
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
    from openlineage.client.serde import Serde

    producer = f"https://kfm.example/kfm-gate/v{metadata.version('kfm-gate')}"
    run_uuid = str(uuid.uuid5(_UUID_NS, f"{asset_key}|{aoi_key}|{day}|{dagster_run_id}"))
    message = f"{type(error).__name__}: {error}"[:2000]
    event = RunEvent(
        eventType=RunState.FAIL,
        eventTime=event_time or f"{day}T00:00:00Z",
        run=Run(
            runId=run_uuid,
            facets={
                "errorMessage": ErrorMessageRunFacet(
                    message=message, programmingLanguage="PYTHON", producer=producer
                )
            },
        ),
        job=Job(namespace=NAMESPACE, name=f"dagster.{asset_key}"),
        inputs=[InputDataset(namespace=NAMESPACE, name=i) for i in sorted(inputs)],
        outputs=[],
        producer=producer,
    )
    doc = Serde.to_dict(event)
    safe_run = "".join(c for c in dagster_run_id if c.isalnum() or c in "-_")[:64] or "run"
    layout = Layout(root)
    target = layout.resolve_relative(
        f"{LINEAGE_DIR}/{asset_key.replace('/', '.')}/{aoi_key}/{day}/{safe_run}-FAIL.json"
    )
    layout.write_bytes(target, (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8"))
    return target
