"""The publication state of a partition, and the backend that keeps it (a declared seam).

One :class:`PublicationState` per partition says what is public now: ``published`` (which
decision, which public files, which STAC item version) or ``withdrawn`` (why, by whom). Its
``version`` grows by one at every change, so a reader can tell two states apart without
comparing them.

:class:`PublicationBackend` is the seam: it serializes publications (``lock``) and reads and
stages states. The default, :class:`FilePublicationBackend`, keeps each state as
``release.json`` beside the partition's candidate (``data/processed/<pipeline>/<dataset>/
<aoi>/<day>/release.json``), written in the publisher's transaction, and serializes with the
repository's transaction lock (``flock`` on ``mcp/.publish.lock``: processes of one host). A
backend for several hosts (e.g. a PostgreSQL table with a row per partition and an advisory
lock) implements the same four methods; the publisher does not change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from kfm_gate.errors import RecordError
from kfm_gate.ids import digest
from kfm_gate.journal import FileTransactionLock, Transaction, TransactionLock
from kfm_gate.layout import PROCESSED, RELEASE_FILE, Layout
from kfm_gate.models import PromotionRequest
from kfm_gate.runs import dumps

Status = Literal["published", "withdrawn"]


@dataclass(frozen=True)
class PublicationState:
    """What is public of one partition (see the module docstring)."""

    version: int
    status: Status
    asset_key: str
    pipeline: str
    dataset: str
    aoi_key: str
    time_key: str
    run_id: str
    #: the published decision: id, digests, outcome, time (what its ledger entries repeat)
    decision: Mapping[str, str]
    stac_item: str  # relative path of the item
    item_version: int
    public_files: tuple[Mapping[str, Any], ...]  # path, sha256, size, media_type
    day: str  # YYYY-MM-DD of this state
    reason: str | None = None  # withdrawn: why
    by: str | None = None  # withdrawn: the decision that denied it, or "council"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def decision_id(self) -> str:
        return str(self.decision["decision_id"])

    @property
    def partition_key(self) -> str:
        return f"{self.aoi_key}|{self.time_key}"

    @property
    def published(self) -> bool:
        return self.status == "published"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": "1",
            "version": self.version,
            "status": self.status,
            "asset_key": self.asset_key,
            "pipeline": self.pipeline,
            "dataset": self.dataset,
            "partition": {"aoi_key": self.aoi_key, "time_key": self.time_key},
            "run_id": self.run_id,
            "decision_id": self.decision_id,
            "decision": dict(self.decision),
            "stac_item": self.stac_item,
            "item_version": self.item_version,
            "public_files": [dict(f) for f in self.public_files],
            "day": self.day,
            "reason": self.reason,
            "by": self.by,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PublicationState:
        part = doc["partition"]
        status = str(doc["status"])
        if status not in ("published", "withdrawn"):
            raise ValueError(f"status {status!r}")
        return cls(
            version=int(doc["version"]),
            status="published" if status == "published" else "withdrawn",
            asset_key=str(doc["asset_key"]),
            pipeline=str(doc["pipeline"]),
            dataset=str(doc["dataset"]),
            aoi_key=str(part["aoi_key"]),
            time_key=str(part["time_key"]),
            run_id=str(doc["run_id"]),
            decision={str(k): str(v) for k, v in dict(doc["decision"]).items()},
            stac_item=str(doc["stac_item"]),
            item_version=int(doc["item_version"]),
            public_files=tuple(dict(f) for f in doc.get("public_files", [])),
            day=str(doc["day"]),
            reason=None if doc.get("reason") is None else str(doc["reason"]),
            by=None if doc.get("by") is None else str(doc["by"]),
        )

    def content(self) -> dict[str, Any]:
        """Everything but the version (two states with the same content are one state)."""
        doc = self.to_json_dict()
        del doc["version"]
        return doc

    def after(self, previous: PublicationState | None) -> PublicationState:
        """This state numbered after ``previous``: the same version when nothing changed."""
        if previous is None:
            return replace(self, version=1)
        if previous.content() == self.content():
            return replace(self, version=previous.version)
        return replace(self, version=previous.version + 1)

    @property
    def digest(self) -> str:
        return digest(self.to_json_dict())


@runtime_checkable
class PublicationBackend(Protocol):
    """Where publication states live, and what serializes publications."""

    @property
    def lock(self) -> TransactionLock:
        """Held by the publisher from reading a state until its transaction is applied."""
        ...

    def read(self, request: PromotionRequest) -> PublicationState | None:
        """The partition's state (None: never published)."""
        ...

    def stage(self, txn: Transaction, request: PromotionRequest, state: PublicationState) -> None:
        """Write ``state`` in ``txn`` (it becomes visible with everything else of it)."""
        ...

    def find(self, aoi_key: str, time_key: str) -> list[PublicationState]:
        """Every state of partition ``aoi|day`` (one per dataset that has one)."""
        ...


class FilePublicationBackend:
    """``release.json`` beside each partition's candidate; the repository's flock."""

    def __init__(self, layout: Layout, *, lock: TransactionLock | None = None) -> None:
        self.layout = layout
        self._lock = lock or FileTransactionLock(layout)

    @property
    def lock(self) -> TransactionLock:
        return self._lock

    def path(self, request: PromotionRequest) -> Path:
        return self.layout.release_path(request)

    def read(self, request: PromotionRequest) -> PublicationState | None:
        return self._read(self.path(request))

    def _read(self, path: Path) -> PublicationState | None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise RecordError(f"publication state {path} is unreadable: {err}") from err
        if not isinstance(doc, dict) or "status" not in doc:
            return None  # a release of an older kfm-gate: nothing is known to be public
        try:
            return PublicationState.from_json(doc)
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"publication state {path} is malformed: {err}") from err

    def stage(self, txn: Transaction, request: PromotionRequest, state: PublicationState) -> None:
        txn.put(self.path(request), dumps(state.to_json_dict()).encode("utf-8"))

    def find(self, aoi_key: str, time_key: str) -> list[PublicationState]:
        base = self.layout.root / PROCESSED
        found = []
        for path in sorted(base.glob(f"*/*/{aoi_key}/{time_key}/{RELEASE_FILE}")):
            state = self._read(path)
            if state is not None:
                found.append(state)
        return found
