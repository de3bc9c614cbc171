"""The publisher: promote a recorded allow, withdraw a published partition; one journal each.

:meth:`Publisher.publish` promotes the decision recorded for a partition's **current** request
and refuses anything else (no decision, another request, an outcome other than allow, a
recorded public view whose bytes no longer match their checksums). From the record alone it
plans, in memory:

* the public view, ``data/processed/<pipeline>/<dataset>/<aoi>/<day>/public/<run>/`` (hard
  links to the recorded, checksummed copies; the files of a superseded publication go);
* the STAC item (a new version when another decision was published before) and collection,
  validated offline (an invalid one publishes nothing);
* the DCAT record of the collection;
* the lineage graph: the decision's PROV, the item, the DCAT dataset and distribution, and a
  ``kfm:Publication`` activity linked to the decision;
* the partition's publication state (:mod:`kfm_gate.publication.state`), and a ledger entry of
  kind ``publish``;

then commits it all in one transaction (:mod:`kfm_gate.journal`): a crash at any step leaves
the old state or, once the journal is committed, the new one, and re-running converges to the
same bytes. Publishing what is already public changes nothing and appends nothing.

:meth:`Publisher.withdraw` takes a published partition back (a later denial, or the council):
the public view leaves the public path, the STAC item is marked deprecated and WITHDRAWN and
leaves the collection's links, the DCAT record drops its distribution, the graph gets a
``kfm:Withdrawal`` that invalidates the item and the public files, the state says withdrawn,
and the ledger gets an entry of kind ``withdraw``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kfm_gate.errors import InputError, PublicationRefusedError, RecordError
from kfm_gate.ids import digest, parse_partition_key
from kfm_gate.journal import Transaction, recover
from kfm_gate.layout import Layout, public_rel
from kfm_gate.models import Decision, PromotionRequest
from kfm_gate.publication.state import (
    FilePublicationBackend,
    PublicationBackend,
    PublicationState,
)
from kfm_gate.runs import RecordedRun, RunStore, recorded_provenance


@dataclass
class Publication:
    """What one publish or withdraw did."""

    action: str  # publish | withdraw
    state: PublicationState
    changed: list[str] = field(default_factory=list)  # paths written or removed (relative)
    graph_added: int = 0
    ledger: dict[str, Any] | None = None

    @property
    def published(self) -> bool:
        return self.state.published

    @property
    def stac_item(self) -> str:
        return self.state.stac_item

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "state": self.state.to_json_dict(),
            "changed": list(self.changed),
            "graph_added": self.graph_added,
            "ledger": self.ledger,
        }


class Publisher:
    """Publishes and withdraws the partitions of one repository (see the module docstring)."""

    def __init__(
        self,
        layout: Layout,
        *,
        store: RunStore | None = None,
        backend: PublicationBackend | None = None,
        validate_stac: bool = True,
    ) -> None:
        self.layout = layout
        self.backend: PublicationBackend = backend or FilePublicationBackend(layout)
        self.store = store or RunStore(layout, lock=self.backend.lock)
        self.validate_stac = validate_stac
        from kfm_gate.catalog.graph import RdfGraphSink

        #: the lineage graph store, whose file cache lives as long as this publisher
        self.graph = RdfGraphSink(layout.root)

    # -- reading -------------------------------------------------------------------------

    def state(self, request: PromotionRequest) -> PublicationState | None:
        """What is public of ``request``'s partition now (after finishing a pending journal)."""
        recover(self.layout, self.backend.lock)
        return self.backend.read(request)

    def allowed(self, request: PromotionRequest, run_id: str) -> RecordedRun:
        """The recorded allow of ``request`` under ``run_id``, or PublicationRefusedError
        saying why it may not be published."""
        part = f"{request.partition.aoi_key}|{request.partition.time_key}"
        record = self.store.current(run_id)
        if record is None:
            raise PublicationRefusedError(
                f"partition {part} has no usable decision recorded for its current request "
                f"(run {run_id}): gate the partition first; nothing was published"
            )
        decision = record.decision
        if decision.request_digest != request.request_digest:
            raise PublicationRefusedError(
                f"partition {part}: the decision of run {run_id} was taken on request "
                f"{decision.request_digest}, not on the current {request.request_digest}; "
                "gate the partition again before publishing: nothing was published"
            )
        if decision.outcome != "allow":
            codes = ", ".join(decision.reason_codes) or "no reason code"
            raise PublicationRefusedError(
                f"partition {part} was not allowed: outcome {decision.outcome} "
                f"({decision.kfm_outcome}) in run {run_id} [{codes}]; fix the data or get a "
                "waiver, then gate again: nothing was published"
            )
        return record

    # -- publish -------------------------------------------------------------------------

    def publish(self, request: PromotionRequest, run_id: str) -> Publication:
        """Publish the recorded allow of ``request`` (see the module docstring)."""
        with self.backend.lock.hold():
            recover(self.layout, self.backend.lock)
            record = self.allowed(request, run_id)
            previous = self.backend.read(request)
            txn, state, added = self._plan_publish(request, record, previous)
            return self._commit(txn, request, state, previous, "publish", added)

    def _plan_publish(
        self,
        request: PromotionRequest,
        record: RecordedRun,
        previous: PublicationState | None,
    ) -> tuple[Transaction, PublicationState, int]:
        from kfm_gate.catalog.dcat import dcat_bytes, dcat_triples
        from kfm_gate.catalog.graph import build_stac_triples, stage_update
        from kfm_gate.catalog.stac import StacWriter, sidecar_files, validate_stac
        from kfm_gate.provenance.prov import (
            prov_triples,
            release_triples,
            serialize_jsonld,
            serialize_turtle,
        )

        layout = self.layout
        decision = record.decision
        view = record.public_view
        if view is None or not view.files:
            raise PublicationRefusedError(
                f"run {decision.run_id} is allowed but recorded no public view: gate the "
                "partition again (force) to record it; nothing was published"
            )
        prov = recorded_provenance(record)
        txn = Transaction(layout, lock=self.backend.lock)
        expected = public_rel(request, decision.run_id)
        files: list[dict[str, Any]] = []
        for f in view.files:
            if f.relpath != f"{expected}/{f.name}":
                raise RecordError(
                    f"the recorded public view of run {decision.run_id} names {f.relpath}, not "
                    f"a file of {expected}/: the record does not belong to this partition"
                )
            txn.link(layout.root / f.relpath, record.public_file(f))
            files.append(
                {"path": f.relpath, "sha256": f.sha256, "size": f.size, "media_type": f.media_type}
            )
        if previous is not None and previous.published:
            kept = {f["path"] for f in files}
            for old in previous.public_files:  # a superseded publication's view goes
                if str(old["path"]) not in kept:
                    txn.remove(layout.root / str(old["path"]))
        graph = prov_triples(prov)
        # the sidecars beside the item are the recorded PROV documents (links to them)
        prov_docs: dict[str, bytes] = {}
        sources: dict[str, Path] = {}
        for name in ("prov.ttl", "prov.jsonld"):
            try:
                prov_docs[name] = record.file(name).read_bytes()
                sources[name] = record.file(name)
            except OSError:  # not recorded (an older record): written from the triples
                prov_docs[name] = (
                    serialize_turtle(graph) if name == "prov.ttl" else serialize_jsonld(graph)
                )
        plan = StacWriter(layout).plan(prov, sidecar_files(prov, prov_docs), sources)
        if self.validate_stac:
            errors = validate_stac(plan.item) + validate_stac(plan.collection)
            if errors:
                raise RecordError(
                    f"STAC for {prov.item_id} does not validate: {'; '.join(errors)[:2000]}; "
                    "nothing was published"
                )
        for path, data in plan.files.items():
            txn.put(path, data)
        for path, source in plan.links.items():
            txn.link(path, source)
        dcat = dcat_triples(plan.collection, config=prov.config)
        txn.put(layout.dcat_path(prov.collection_id), dcat_bytes(dcat, prov.config))
        # the graph gets the dataset and this item's distribution (earlier publications gave
        # it the others); every distribution lists the licences: when they change, all go
        before = (plan.previous_collection or {}).get("kfm:licenses", [])
        if before == plan.collection.get("kfm:licenses", []):
            dcat = dcat_triples(plan.collection, config=prov.config, items={prov.item_id})
        day = decision.evaluated_at[:10]
        release = release_triples(
            kind="publish",
            decision_id=decision.decision_id,
            run_id=decision.run_id,
            collection_id=prov.collection_id,
            item_id=prov.item_id,
            version=plan.version,
            public_files=[(str(f["path"]), str(f["sha256"])) for f in files],
            day=day,
            agent_version=prov.version,
        )
        update = self.graph.plan_update(
            [graph, build_stac_triples(prov, plan.version, layout.root), dcat, release]
        )
        stage_update(txn, update)
        state = PublicationState(
            version=0,
            status="published",
            asset_key=request.asset_key,
            pipeline=request.pipeline,
            dataset=request.dataset,
            aoi_key=request.partition.aoi_key,
            time_key=request.partition.time_key,
            run_id=decision.run_id,
            decision=_decision_summary(decision),
            stac_item=layout.rel(plan.item_path),
            item_version=plan.version,
            public_files=tuple(files),
            day=day,
        ).after(previous)
        return txn, state, update.added

    # -- withdraw ------------------------------------------------------------------------

    def withdraw(
        self,
        request: PromotionRequest,
        *,
        reason: str,
        day: dt.date,
        by: str = "council",
    ) -> Publication:
        """Take ``request``'s published partition back (see the module docstring);
        PublicationRefusedError when nothing of it is published. The same withdrawal again
        (reason, day, by) changes nothing."""
        reason = " ".join(reason.split())
        if not reason:
            raise InputError("a withdrawal needs a reason (--reason '...'): it is recorded")
        with self.backend.lock.hold():
            recover(self.layout, self.backend.lock)
            previous = self.backend.read(request)
            part = f"{request.partition.aoi_key}|{request.partition.time_key}"
            if (
                previous is not None
                and not previous.published
                and (previous.reason, previous.day, previous.by) == (reason, day.isoformat(), by)
            ):
                return Publication("withdraw", previous)  # this very withdrawal is done
            if previous is None or not previous.published:
                raise PublicationRefusedError(
                    f"partition {part} of {request.dataset} is not published: nothing to withdraw"
                )
            txn, state, added = self._plan_withdraw(previous, reason, day.isoformat(), by)
            return self._commit(txn, request, state, previous, "withdraw", added)

    def _plan_withdraw(
        self, previous: PublicationState, reason: str, day: str, by: str
    ) -> tuple[Transaction, PublicationState, int]:
        from kfm_gate.catalog.dcat import dcat_bytes, dcat_triples
        from kfm_gate.catalog.graph import stage_update
        from kfm_gate.catalog.stac import (
            collection_without,
            read_json,
            stac_json,
            validate_stac,
            withdrawn_item,
        )
        from kfm_gate.provenance.prov import release_triples

        layout = self.layout
        txn = Transaction(layout, lock=self.backend.lock)
        for f in previous.public_files:
            txn.remove(layout.root / str(f["path"]))
        item_path = layout.root / previous.stac_item
        item_id = item_path.parent.name
        collection_id = item_path.parent.parent.name
        item = read_json(item_path)
        if item is not None:
            txn.put(item_path, stac_json(withdrawn_item(item, reason=reason, day=day, by=by)))
        coll_path = layout.collection_path(collection_id)
        collection = read_json(coll_path)
        record = self.store.latest(previous.run_id)
        config = record.config if record is not None else {}
        if collection is not None:
            collection = collection_without(collection, item_id)
            if self.validate_stac and validate_stac(collection):
                raise RecordError(f"{coll_path} would not validate without {item_id}")
            txn.put(coll_path, stac_json(collection))
            txn.put(
                layout.dcat_path(collection_id),
                dcat_bytes(dcat_triples(collection, config=config), config),
            )
        release = release_triples(
            kind="withdraw",
            decision_id=previous.decision_id,
            run_id=previous.run_id,
            collection_id=collection_id,
            item_id=item_id,
            version=previous.item_version,
            public_files=[(str(f["path"]), str(f["sha256"])) for f in previous.public_files],
            day=day,
            agent_version=_agent_version(config),
            reason=reason,
            by=by,
        )
        update = self.graph.plan_update([release])
        stage_update(txn, update)
        state = replace(
            previous,
            version=previous.version + 1,
            status="withdrawn",
            day=day,
            reason=reason,
            by=by,
        )
        return txn, state, update.added

    # -- shared --------------------------------------------------------------------------

    def _commit(
        self,
        txn: Transaction,
        request: PromotionRequest,
        state: PublicationState,
        previous: PublicationState | None,
        action: str,
        added: int,
    ) -> Publication:
        """Stage the state and the ledger entry with the rest, and commit; nothing (not even
        a ledger entry) when the partition is already in exactly this state."""
        self.backend.stage(txn, request, state)
        if previous is not None and previous.version == state.version and not txn.changes():
            return Publication(action, state)
        decision = state.decision
        txn.ledger(
            {
                "kind": action,
                "asset_key": state.asset_key,
                "decision_digest": decision["decision_digest"],
                "decision_id": decision["decision_id"],
                "evidence_digest": decision["evidence_digest"],
                "outcome": decision["outcome"],
                "partition": state.partition_key,
                "policy_digest": decision["policy_digest"],
                "request_digest": decision["request_digest"],
                "run_id": state.run_id,
                "time": f"{state.day}T00:00:00Z",
                "state_digest": state.digest,
            }
        )
        commit = txn.commit()
        return Publication(
            action,
            state,
            [self.layout.rel(p) for p in commit.changed],
            added,
            commit.ledger[0] if commit.ledger else None,
        )

    # -- references ----------------------------------------------------------------------

    def resolve(self, ref: str) -> PromotionRequest:
        """The request of a partition named as ``aoi|day``, ``<asset key>@aoi|day``, a run
        id, a decision id, or a unique prefix of a run folder."""
        ref = ref.strip()
        if "|" in ref:
            asset, _, part = ref.rpartition("@")
            aoi, day = parse_partition_key(part)
            states = [s for s in self.backend.find(aoi, day) if not asset or s.asset_key == asset]
            if not states:
                raise InputError(
                    f"no publication of partition {part!r}"
                    + (f" of {asset}" if asset else "")
                    + " is recorded: nothing to withdraw"
                )
            if len(states) > 1:
                names = ", ".join(f"{s.asset_key}@{s.partition_key}" for s in states)
                raise InputError(f"partition {part!r} is ambiguous ({names}): name the asset")
            record = self.store.latest(states[0].run_id)
        else:
            record = self.store.find(ref)
        request = None if record is None else record.request
        if request is None:
            raise InputError(f"{ref!r} names no partition with a recorded request")
        return request

    def settle(
        self, request: PromotionRequest | None, decision: Decision, *, recorded: bool = True
    ) -> Publication | None:
        """What ``kfm-gate evaluate`` does after the gate: publish an allow, withdraw what the
        same asset published of the partition when it is now denied or held (quarantine). An
        error (or a decision that could not be recorded) changes nothing: an error is not a
        decision."""
        if request is None or not recorded or decision.outcome == "error":
            return None
        if decision.outcome == "allow":
            return self.publish(request, decision.run_id)
        current = self.state(request)
        if current is None or not current.published or current.asset_key != request.asset_key:
            return None  # nothing this asset published here
        codes = ", ".join(decision.reason_codes) or "no reason code"
        return self.withdraw(
            request,
            reason=f"decision {decision.decision_id}: {decision.outcome} [{codes}]",
            day=dt.date.fromisoformat(decision.evaluated_at[:10]),
            by=decision.decision_id,
        )


def _decision_summary(decision: Decision) -> dict[str, str]:
    doc = decision.to_json_dict()
    return {
        "decision_id": decision.decision_id,
        "decision_digest": digest(doc),
        "evidence_digest": decision.evidence_digest,
        "outcome": decision.outcome,
        "policy_digest": decision.policy_digest,
        "request_digest": decision.request_digest,
        "evaluated_at": decision.evaluated_at,
    }


def _agent_version(config: Mapping[str, Any]) -> str:
    packages = (config.get("environment") or {}).get("packages") or {}
    found = packages.get("kfm-gate") if isinstance(packages, Mapping) else None
    if isinstance(found, str) and found != "not installed":
        return found
    from kfm_gate import __version__

    return __version__
