"""The one entry point the gate calls after every decision: :func:`record_run`.

1. Run records, whatever the outcome: ``prov.ttl``, ``prov.jsonld`` and the OpenLineage events
   (``openlineage/01-START.json``, ``02-COMPLETE.json`` or ``02-FAIL.json``) into the run folder.
2. On ``promote=True`` (outcome allow only): the STAC item, its sidecars and the collection, the
   DCAT record, and the merged lineage graph, planned and validated in memory (the PROV copies
   beside the item are hard links to the run records' files).
3. Both are staged together (temporaries, fsynced in one batch; nothing visible), then the
   ledger entry is appended (hash-chained; skipped when this decision is already in the
   ledger) with the run's receipt ``ledger-entry.json``, then records and publication are
   renamed into place through one journal (:mod:`kfm_gate.provenance.staging`): nothing is
   ever half published, nothing of the run is visible before its ledger entry is on disk, and
   everything is on disk when this function returns. A publication that cannot be planned or
   staged is raised after the records and the ledger entry are written; when the ledger
   fails, the records are still written on their own and nothing is published.
4. Optional HTTP OpenLineage emission (``config['openlineage']['url']``), after the
   publication lock is released; a delivery failure is reported in the result, the files stay
   the record.

See ``docs/provenance.md`` (*Atomic publication*) for the order of the fsyncs.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfm_gate.errors import KfmGateError, RecordError
from kfm_gate.ids import digest
from kfm_gate.provenance.ledger import Ledger, entry_from_decision
from kfm_gate.provenance.lineage import build_run_events, event_files
from kfm_gate.provenance.outbox import build_delivery_sinks
from kfm_gate.provenance.prov import prov_triples, serialize_jsonld, serialize_turtle
from kfm_gate.provenance.record import RunRecord
from kfm_gate.provenance.staging import StagedWrites, fsync_all, publish_lock

LEDGER_FILE = "mcp/ledger.jsonl"
LEDGER_MARKER = "ledger-entry.json"


def _rel(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` for the result (resolved only when it is not plainly
    under ``root``, e.g. a run folder given through a link)."""
    if path.is_absolute() and ".." not in path.parts:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _rel_resolved(root: Path, paths: list[Path]) -> list[str]:
    """``_rel`` of paths that are resolved already (staged targets)."""
    return [p.relative_to(root).as_posix() for p in paths]


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
    Holds the repository's publication lock throughout (:func:`publish_lock`): concurrent
    gates record one after the other, and none plans from a catalog another is changing.
    """
    root = root.resolve()
    with publish_lock(root):
        result, events, run_dir = _record_run(record, root, promote, ledger, validate_stac)

    # 4. extra lineage sinks (outside the lock: an HTTP endpoint may be slow) -------------
    # through the outbox (kfm_gate/provenance/outbox.py): kept until delivered, in order
    for sink in build_delivery_sinks(record.config, root, run_dir):
        try:
            sink.emit(events)
        except KfmGateError as err:
            result["warnings"].append(str(err))
    return result


def _record_run(
    record: RunRecord, root: Path, promote: bool, ledger: Ledger | None, validate_stac: bool
) -> tuple[dict[str, Any], Any, Path]:
    """Steps 1 to 3 of :func:`record_run`: its result, the OpenLineage events, the run folder."""
    run_dir = record.resolve_run_dir(root)
    if not run_dir.is_absolute():
        run_dir = root / run_dir
    prov_graph = prov_triples(record)
    prov_docs = {
        "prov.ttl": serialize_turtle(prov_graph),
        "prov.jsonld": serialize_jsonld(prov_graph),
    }
    events = build_run_events(record)

    # 1. run records and the publication: planned, staged, fsynced, nothing visible -------
    records = _stage_records(root, run_dir, prov_docs, events)
    publication: _Publication | None = None
    deferred: BaseException | None = None  # a publication failure, raised after the ledger
    if promote and record.decision.outcome == "allow":
        try:
            publication = _plan_publication(record, root, prov_graph, prov_docs, validate_stac)
        except Exception as err:  # records and ledger are written first, whatever happened
            deferred = err
    staged = records
    if publication is not None:
        staged = StagedWrites(root)  # one journal for both (the PROV copies become links)
        staged.absorb(records)
        staged.absorb(publication.staged)
    synced = True
    try:
        fsync_all(staged.prepare())  # prepare raises RecordError; an OSError is the fsync's
    except Exception as err:
        if staged is not records:  # the publication failed: the records on their own
            staged.abort()
            publication, staged, synced = None, records, False
            deferred = (
                RecordError(
                    f"could not stage the publication of {record.item_id}: {err}; "
                    "nothing was published, fix the cause and re-run"
                )
                if isinstance(err, OSError)
                else err
            )
        elif isinstance(err, OSError):
            synced = False  # the commit fsyncs the records again and reports the failure
        else:
            raise
    result: dict[str, Any] = {
        "run_dir": _rel(root, run_dir),
        "records": _rel_resolved(root, records.targets),
        "ledger": None,
        "published": [],
        "stac_item": None,
        "stac_version": None,
        "graph_added": 0,
        "warnings": [],
    }

    # 2. ledger: on disk before anything of this run is visible (the folders of its head and
    # receipt are fsynced with the journal's) ---------------------------------------------
    ledger_dirs: list[Path] = []
    try:
        ledger = ledger or Ledger(root / LEDGER_FILE, repo_root=root)
        result["ledger"] = _append_once(ledger, record, run_dir, ledger_dirs)
    except BaseException:
        staged.abort()  # nothing published; the run's records are still written (best effort)
        with contextlib.suppress(RecordError):
            records.commit()
        raise

    # 3. the records and the publication, renamed together through one journal ------------
    if promote and record.decision.outcome != "allow":
        staged.commit(synced=synced, sync_dirs=ledger_dirs)
        raise RecordError(
            f"run {record.run_id} has outcome {record.decision.outcome}: only 'allow' may "
            "be promoted; call record_run(..., promote=False)"
        )
    changed = staged.commit(synced=synced, sync_dirs=ledger_dirs)
    if publication is not None:
        result.update(publication.report(root, changed))
    if promote and deferred is not None:
        raise deferred
    return result, events, run_dir


def _stage_records(
    root: Path, run_dir: Path, prov_docs: dict[str, bytes], events: Any
) -> StagedWrites:
    """The run records (PROV documents and OpenLineage events) staged for the run folder."""
    records = StagedWrites(root)
    for name, data in prov_docs.items():
        records.add(run_dir / name, data)
    for rel, data in event_files(events).items():
        records.add(run_dir / rel, data)
    return records


def _append_once(
    ledger: Ledger, record: RunRecord, run_dir: Path, defer_dirs: list[Path]
) -> dict[str, Any]:
    """Append the decision unless this run folder already recorded the same decision; the
    receipt (``ledger-entry.json``) is written with the entry, and the folders of the head
    and receipt are added to ``defer_dirs`` for the caller to fsync."""
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
    stored = ledger.append(
        entry_from_decision(decision_doc, decision_digest=digest(decision_doc)),
        receipt=marker,
        defer_dirs=defer_dirs,
    )
    return {"seq": stored["entry"]["seq"], "hash": stored["hash"], "appended": True}


@dataclass
class _Publication:
    """A planned publication: the staged files and what to report once committed."""

    staged: StagedWrites
    item_path: Path
    version: int
    graph_added: int

    def report(self, root: Path, changed: list[Path]) -> dict[str, Any]:
        """What was published, once committed (``changed``: what the commit changed)."""
        mine = {*self.staged.targets, *self.staged.removals}
        return {
            "published": _rel_resolved(root, self.staged.targets),
            "changed": _rel_resolved(root, [p for p in changed if p in mine]),
            "stac_item": _rel(root, self.item_path),
            "stac_version": self.version,
            "graph_added": self.graph_added,
        }


def _plan_publication(
    record: RunRecord,
    root: Path,
    prov_graph: Any,
    prov_docs: dict[str, bytes],
    validate: bool,
) -> _Publication:
    """Everything an allowed run publishes (STAC item, sidecars, collection, DCAT, lineage
    graph), validated and staged in memory; nothing is written here."""
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
    # the lineage graph gets the dataset and this item's distribution: earlier publications
    # gave it the other items' (the same union as the whole record, without its O(n) lines).
    # Every distribution lists the collection's licences: when they change, all of them go.
    before = (plan.previous_collection or {}).get("kfm:licenses", [])
    same_licences = before == plan.collection.get("kfm:licenses", [])
    dcat_new = (
        dcat_triples(plan.collection, config=record.config, items={record.item_id})
        if same_licences
        else dcat
    )
    staged = StagedWrites(root)
    for path, data in plan.files.items():
        staged.add(path, data)
    staged.add(dcat_path(root, record.collection_id), dcat_bytes(dcat, record.config))
    update = RdfGraphSink(root).plan_update(
        [prov_graph, build_stac_triples(record, plan.version, root), dcat_new]
    )
    for path, data in update.writes.items():
        staged.add(path, data)
    for path in update.removes:
        staged.remove(path)
    return _Publication(staged, plan.item_path, plan.version, update.added)
