"""The one entry point the gate calls after every decision: :func:`record_run`.

1. Run records, whatever the outcome: ``prov.ttl``, ``prov.jsonld`` and the OpenLineage events
   (``openlineage/01-START.json``, ``02-COMPLETE.json`` or ``02-FAIL.json``) into the run folder,
   staged and renamed together.
2. The ledger entry (hash-chained; skipped when this decision is already in the ledger).
3. On ``promote=True`` (outcome allow only): the STAC item, its sidecars and the collection, the
   DCAT record, and the merged lineage graph, all staged first and renamed together through a
   journal (:mod:`kfm_gate.provenance.staging`), so nothing is ever half published.
4. Optional HTTP OpenLineage emission (``config['openlineage']['url']``); a delivery failure is
   reported in the result, the files stay the record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kfm_gate.errors import KfmGateError, RecordError
from kfm_gate.ids import digest
from kfm_gate.provenance.ledger import Ledger, entry_from_decision
from kfm_gate.provenance.lineage import (
    FileLineageSink,
    build_lineage_sinks,
    build_run_events,
    event_files,
)
from kfm_gate.provenance.prov import build_prov_graph, serialize_jsonld, serialize_turtle
from kfm_gate.provenance.record import RunRecord
from kfm_gate.provenance.staging import StagedWrites

LEDGER_FILE = "mcp/ledger.jsonl"
LEDGER_MARKER = "ledger-entry.json"


def _rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def record_run(
    record: RunRecord,
    *,
    root: Path,
    promote: bool,
    ledger: Ledger | None = None,
    validate_stac: bool = True,
) -> dict[str, Any]:
    """Write the run's records and, on ``promote``, publish its catalog entries (see module doc).

    Returns ``{run_dir, records, ledger, published, stac_item, stac_version, graph_added,
    warnings}`` with paths relative to ``root``. Raises :class:`RecordError` when something
    cannot be written; records written before the failure stay (they are complete files).
    """
    root = root.resolve()
    run_dir = record.resolve_run_dir(root)
    if not run_dir.is_absolute():
        run_dir = root / run_dir
    prov_graph = build_prov_graph(record)
    prov_docs = {
        "prov.ttl": serialize_turtle(prov_graph),
        "prov.jsonld": serialize_jsonld(prov_graph),
    }
    events = build_run_events(record)

    # 1. run records -------------------------------------------------------------------
    records = StagedWrites(root)
    for name, data in prov_docs.items():
        records.add(run_dir / name, data)
    for rel, data in event_files(events).items():
        records.add(run_dir / rel, data)
    records.commit()
    result: dict[str, Any] = {
        "run_dir": _rel(root, run_dir),
        "records": [_rel(root, p) for p in records.targets],
        "ledger": None,
        "published": [],
        "stac_item": None,
        "stac_version": None,
        "graph_added": 0,
        "warnings": [],
    }

    # 2. ledger ------------------------------------------------------------------------
    ledger = ledger or Ledger(root / LEDGER_FILE, repo_root=root)
    result["ledger"] = _append_once(ledger, record, run_dir)

    # 3. publication ---------------------------------------------------------------------
    if promote:
        if record.decision.outcome != "allow":
            raise RecordError(
                f"run {record.run_id} has outcome {record.decision.outcome}: only 'allow' may "
                "be promoted; call record_run(..., promote=False)"
            )
        result.update(_publish(record, root, prov_graph, prov_docs, validate_stac))

    # 4. extra lineage sinks -------------------------------------------------------------
    for sink in build_lineage_sinks(record.config, run_dir):
        if isinstance(sink, FileLineageSink):
            continue  # already written with the run records
        try:
            sink.emit(events)
        except KfmGateError as err:
            result["warnings"].append(str(err))
    return result


def _append_once(ledger: Ledger, record: RunRecord, run_dir: Path) -> dict[str, Any]:
    """Append the decision unless this run folder already recorded the same decision."""
    from kfm_gate.layout import atomic_write

    marker = run_dir / LEDGER_MARKER
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        done = None
    if isinstance(done, dict) and done.get("entry", {}).get("decision_id") == (
        record.decision.decision_id
    ):
        return {"seq": done["entry"]["seq"], "hash": done["hash"], "appended": False}
    decision_doc = record.decision.to_json_dict()
    stored = ledger.append(entry_from_decision(decision_doc, decision_digest=digest(decision_doc)))
    atomic_write(marker, json.dumps(stored, sort_keys=True, indent=1).encode("utf-8") + b"\n")
    return {"seq": stored["entry"]["seq"], "hash": stored["hash"], "appended": True}


def _publish(
    record: RunRecord,
    root: Path,
    prov_graph: Any,
    prov_docs: dict[str, bytes],
    validate: bool,
) -> dict[str, Any]:
    from kfm_gate.catalog.dcat import dcat_bytes, dcat_path, dcat_triples
    from kfm_gate.catalog.graph import RdfGraphSink, build_stac_triples
    from kfm_gate.catalog.stac import StacWriter, sidecar_files, validate_stac

    plan = StacWriter(root).plan(record, sidecar_files(record, prov_docs))
    if validate:
        errors = validate_stac(plan.item) + validate_stac(plan.collection)
        if errors:
            raise RecordError(
                f"STAC for {record.item_id} does not validate: {'; '.join(errors)[:2000]}; "
                "nothing was published"
            )
    dcat = dcat_triples(plan.collection, config=record.config)
    staged = StagedWrites(root)
    for path, data in plan.files.items():
        staged.add(path, data)
    staged.add(dcat_path(root, record.collection_id), dcat_bytes(dcat, record.config))
    update = RdfGraphSink(root).plan_update(
        [prov_graph, build_stac_triples(record, plan.version, root), dcat]
    )
    for path, data in update.writes.items():
        staged.add(path, data)
    for path in update.removes:
        staged.remove(path)
    changed = staged.commit()
    return {
        "published": [_rel(root, p) for p in staged.targets],
        "changed": [_rel(root, p) for p in changed],
        "stac_item": _rel(root, plan.item_path),
        "stac_version": plan.version,
        "graph_added": update.added,
    }
