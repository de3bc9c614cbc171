"""Run records in ``mcp/runs/<run folder>/``: the one place that writes and reads them.

A run folder holds the run's **current decision** (allow, deny or quarantine) at its top:

``request.json`` ``config.json`` ``evidence.json`` ``policy_input.json`` ``decision.json``
``run.log``, the provenance the recorder adds (``prov.ttl``, ``prov.jsonld``,
``openlineage/*.json``), the ledger receipt ``ledger-entry.json`` and, for an allow, the masked
public view ``public/<file>`` with ``public.json`` (checksums, sizes, media types, footprint):
what the publisher promotes, from the record alone.

An ``error`` is never a decision to keep: it is recorded with the same files under
``attempts/<decision folder>/`` and never replaces the current decision; so is a decision that
a later one replaced (another request for the same run id, or another day). Files are
canonical JSON (sorted keys, two-space indent, trailing newline), so the same run gives the
same bytes. Everything of one recording is written in one transaction (:mod:`kfm_gate.journal`)
with its ledger entry.

:class:`RunStore` reads a folder back as a typed :class:`RecordedRun`; a decision whose schema
or digest does not check is not a decision (:meth:`RunStore.reusable` returns None and the run
is decided again).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from kfm_gate.errors import InputError, KfmGateError, RecordError
from kfm_gate.ids import ID_RE, run_folder_name, sha256_bytes
from kfm_gate.journal import Commit, Transaction, TransactionLock
from kfm_gate.jsonfmt import dumps_indent
from kfm_gate.layout import ATTEMPTS, PUBLIC_VIEW, RUNS, Layout
from kfm_gate.models import Decision, Evidence, GovernanceFlags, PromotionRequest
from kfm_gate.models.decision import decision_id_matches

if TYPE_CHECKING:
    from kfm_gate.provenance.record import PublicFile, RunRecord

RECORD_FILES = (
    "request.json",
    "config.json",
    "evidence.json",
    "policy_input.json",
    "decision.json",
    "run.log",
)
PUBLIC_MANIFEST = "public.json"
LEDGER_RECEIPT = "ledger-entry.json"
#: files of a folder that belong to its decision (everything a new decision replaces)
_TOP_FILES = (*RECORD_FILES, "prov.ttl", "prov.jsonld", LEDGER_RECEIPT, PUBLIC_MANIFEST)
_DIRS = ("openlineage", PUBLIC_VIEW)


def dumps(doc: Any) -> str:
    """Stable pretty JSON: sorted keys, UTF-8, newline at the end (``json.dumps`` bytes)."""
    return dumps_indent(doc, 2, ensure_ascii=False, allow_nan=False) + "\n"


def _json_bytes(doc: Any) -> bytes:
    return dumps(doc).encode("utf-8")


@dataclass(frozen=True)
class PublicViewFile:
    """One file of an allowed run's masked public view, as recorded."""

    name: str
    relpath: str  # where the publisher puts it, relative to the repository root
    sha256: str
    size: int
    media_type: str
    role: str
    source: str | None  # the candidate output it derives from

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.relpath,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "role": self.role,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PublicViewFile:
        return cls(
            name=str(doc["name"]),
            relpath=str(doc["path"]),
            sha256=str(doc["sha256"]),
            size=int(doc["size"]),
            media_type=str(doc["media_type"]),
            role=str(doc["role"]),
            source=None if doc.get("source") is None else str(doc["source"]),
        )


@dataclass(frozen=True)
class PublicView:
    """The recorded public view of an allowed run: its files and their footprint."""

    files: tuple[PublicViewFile, ...]
    footprint: Mapping[str, Any] | None  # GeoJSON geometry (a bbox), already masked

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": "1",
            "files": [f.to_json_dict() for f in self.files],
            "footprint": None if self.footprint is None else dict(self.footprint),
        }


@dataclass(frozen=True)
class RunDraft:
    """What the gate hands to the recorder: one decision and everything it was taken on."""

    decision: Decision
    request: PromotionRequest | None  # None: rejected before parsing
    request_doc: Mapping[str, Any]  # request.json (for a rejected request: size and digest)
    config: Mapping[str, Any]
    evidence: Evidence
    policy_inputs: Mapping[str, Any]
    log: str
    flags: GovernanceFlags | None = None
    #: allow only: the masked public view (file -> its bytes), and its footprint
    public_view: PublicView | None = None
    public_bytes: Mapping[str, bytes] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        """The record files of this draft, by name relative to its folder."""
        out = {
            "request.json": _json_bytes(dict(self.request_doc)),
            "config.json": _json_bytes(dict(self.config)),
            "evidence.json": _json_bytes(self.evidence.to_json_dict()),
            "run.log": self.log.encode("utf-8"),
            "decision.json": _json_bytes(self.decision.to_json_dict()),
        }
        if self.policy_inputs:
            out["policy_input.json"] = _json_bytes(dict(self.policy_inputs))
        if self.public_view is not None:
            out[PUBLIC_MANIFEST] = _json_bytes(self.public_view.to_json_dict())
            for f in self.public_view.files:
                out[f"{PUBLIC_VIEW}/{f.name}"] = self.public_bytes[f.name]
        return out


class RecordedRun:
    """One decision as recorded: the current one of a run folder, or an attempt.

    Each part is read (and validated) when first asked for.
    """

    def __init__(self, folder: Path, *, attempt: str | None = None) -> None:
        self.folder = folder
        self.attempt = attempt

    def __repr__(self) -> str:
        return f"RecordedRun({self.folder})"

    def _json(self, name: str) -> Any:
        path = self.folder / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise RecordError(f"run record {path} is missing") from err
        except (OSError, ValueError) as err:
            raise RecordError(f"run record {path} is not readable JSON: {err}") from err

    def _optional(self, name: str) -> dict[str, Any]:
        if not (self.folder / name).is_file():
            return {}
        doc = self._json(name)
        return doc if isinstance(doc, dict) else {}

    @cached_property
    def decision_doc(self) -> dict[str, Any]:
        doc = self._json("decision.json")
        if not isinstance(doc, dict):
            raise RecordError(f"{self.folder / 'decision.json'} is not an object")
        return doc

    @cached_property
    def decision(self) -> Decision:
        """The decision, checked against its schema and its digest (RecordError if not)."""
        try:
            decision = Decision.model_validate(self.decision_doc)
        except ValidationError as err:
            raise RecordError(
                f"{self.folder / 'decision.json'} is not a decision: {err.errors()[0]['msg']}"
            ) from err
        if not decision_id_matches(decision):
            raise RecordError(
                f"{self.folder / 'decision.json'}: its decision id is not the digest of its "
                "content (edited after it was taken)"
            )
        return decision

    @property
    def run_id(self) -> str:
        return str(self.decision_doc.get("run_id", ""))

    @property
    def outcome(self) -> str:
        return str(self.decision_doc.get("outcome", ""))

    @property
    def partition(self) -> dict[str, str]:
        part = self.decision_doc.get("partition") or {}
        return {str(k): str(v) for k, v in part.items()} if isinstance(part, dict) else {}

    @cached_property
    def request_doc(self) -> dict[str, Any]:
        return self._optional("request.json")

    @property
    def rejected(self) -> bool:
        """The request could not be parsed: the record names it by its digest only."""
        return bool(self.request_doc.get("invalid")) or "partition" not in self.request_doc

    @cached_property
    def request(self) -> PromotionRequest | None:
        if self.rejected:
            return None
        try:
            return PromotionRequest.model_validate(self.request_doc)
        except ValidationError as err:
            raise RecordError(
                f"{self.folder / 'request.json'} is not a request: {err.errors()[0]['msg']}"
            ) from err

    @cached_property
    def config(self) -> dict[str, Any]:
        return self._optional("config.json")

    @cached_property
    def evidence_doc(self) -> dict[str, Any]:
        return self._optional("evidence.json")

    @cached_property
    def evidence(self) -> Evidence:
        try:
            return Evidence.model_validate(self.evidence_doc)
        except ValidationError as err:
            raise RecordError(f"{self.folder / 'evidence.json'} is not evidence: {err}") from err

    @cached_property
    def policy_inputs(self) -> dict[str, Any]:
        """``{"obligations": phase-1 input, "decision": phase-2 input}`` (either may lack)."""
        return self._optional("policy_input.json")

    @cached_property
    def flags(self) -> GovernanceFlags | None:
        """The effective (joined) flags the policy was given."""
        doc = (self.policy_inputs.get("obligations") or {}).get("flags")
        if not isinstance(doc, dict):
            return None
        try:
            return GovernanceFlags.model_validate(doc)
        except ValidationError as err:
            raise RecordError(
                f"{self.folder / 'policy_input.json'}: the flags are not flags: "
                f"{err.errors()[0]['msg']}"
            ) from err

    @property
    def log(self) -> str:
        try:
            return (self.folder / "run.log").read_text(encoding="utf-8")
        except OSError:
            return ""

    @cached_property
    def public_view(self) -> PublicView | None:
        doc = self._optional(PUBLIC_MANIFEST)
        if not doc:
            return None
        try:
            files = tuple(PublicViewFile.from_json(f) for f in doc.get("files", []))
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"{self.folder / PUBLIC_MANIFEST} is malformed: {err}") from err
        footprint = doc.get("footprint")
        return PublicView(files, footprint if isinstance(footprint, dict) else None)

    def public_file(self, view_file: PublicViewFile) -> Path:
        """The recorded copy of one public-view file, checked against its recorded digest."""
        path = self.folder / PUBLIC_VIEW / view_file.name
        try:
            data = path.read_bytes()
        except OSError as err:
            raise RecordError(f"the recorded public view file {path} is unreadable: {err}") from err
        if sha256_bytes(data) != view_file.sha256 or len(data) != view_file.size:
            raise RecordError(
                f"the recorded public view file {path} does not match its checksum in "
                f"{PUBLIC_MANIFEST}: it was changed after the decision; gate the partition again"
            )
        return path

    @cached_property
    def receipt(self) -> dict[str, Any] | None:
        doc = self._optional(LEDGER_RECEIPT)
        return doc or None

    def file(self, name: str) -> Path:
        """A file of this record (e.g. ``prov.ttl``)."""
        return self.folder / name


class RunStore:
    """The run records of one repository."""

    def __init__(self, layout: Layout, *, lock: TransactionLock | None = None) -> None:
        self.layout = layout
        self.lock = lock

    @property
    def base(self) -> Path:
        return self.layout.runs_dir

    def run_dir(self, run_id: str) -> Path:
        return self.layout.run_dir(run_id)

    def attempt_dir(self, run_id: str, decision_id: str) -> Path:
        return self.layout.attempt_dir(run_id, run_folder_name(decision_id))

    def folder_of(self, decision: Decision, *, current: bool) -> Path:
        """Where ``decision`` is recorded: the run folder, or its attempt folder."""
        if current:
            return self.run_dir(decision.run_id)
        return self.attempt_dir(decision.run_id, decision.decision_id)

    # -- reading -------------------------------------------------------------------------

    def current(self, run_id: str) -> RecordedRun | None:
        """The run's current decision, or None (no decision, or one that does not check)."""
        folder = self.run_dir(run_id)
        if not (folder / "decision.json").is_file():
            return None
        record = RecordedRun(folder)
        try:
            record.decision  # noqa: B018 - schema and digest checked here
        except RecordError:
            return None
        return record

    def reusable(self, run_id: str, request_digest: str) -> tuple[RecordedRun | None, str]:
        """The current decision of ``run_id`` when it may stand for a new evaluation of the
        request with ``request_digest``, else None and why it may not."""
        folder = self.run_dir(run_id)
        if not (folder / "decision.json").is_file():
            return None, "no decision recorded"
        record = RecordedRun(folder)
        try:
            decision = record.decision
        except RecordError as err:
            return None, f"recorded decision unusable ({err}): deciding again"
        if decision.outcome == "error":
            return None, "recorded outcome error is never reused: deciding again"
        if decision.request_digest != request_digest:
            return None, (
                f"recorded decision was taken on request {decision.request_digest}, not on "
                f"{request_digest}: deciding again"
            )
        return record, "reused"

    def load(self, folder: Path) -> RecordedRun:
        """The record in ``folder`` (a run folder or one of its attempts)."""
        attempt = folder.name if folder.parent.name == ATTEMPTS else None
        return RecordedRun(folder, attempt=attempt)

    def attempts(self, run_id: str) -> list[RecordedRun]:
        """The run's attempts (errors and superseded decisions), sorted by folder name."""
        base = self.run_dir(run_id) / ATTEMPTS
        if not base.is_dir():
            return []
        return [
            RecordedRun(p, attempt=p.name)
            for p in sorted(base.iterdir())
            if (p / "decision.json").is_file()
        ]

    def latest(self, run_id: str) -> RecordedRun | None:
        """The current decision of ``run_id``, else its newest attempt (errors)."""
        found = self.current(run_id)
        if found is not None:
            return found
        attempts = self.attempts(run_id)
        if not attempts:
            return None
        return max(attempts, key=lambda r: (str(r.decision_doc.get("evaluated_at")), _mtime(r)))

    def find(self, ref: str) -> RecordedRun:
        """A record from a run id, a decision id, a folder name, or a unique prefix of one."""
        ref = ref.strip()
        folder_ref = ref.replace(":", "_")
        if ref.startswith("decision:") and ID_RE.match(ref):
            for record in self.iter_runs(include_attempts=True):
                if record.decision_doc.get("decision_id") == ref:
                    return record
            raise InputError(f"no recorded decision {ref!r} under {self.base}")
        if "/" not in folder_ref and folder_ref and (self.base / folder_ref).is_dir():
            found = self._latest_in(self.base / folder_ref)
            if found is not None:
                return found
        matches = sorted(
            p
            for p in (self.base.iterdir() if self.base.is_dir() else [])
            if p.is_dir() and not p.name.startswith(".") and p.name.startswith(folder_ref)
        )
        records = [r for r in (self._latest_in(p) for p in matches) if r is not None]
        if len(records) == 1:
            return records[0]
        if not records:
            raise InputError(f"no run {ref!r} under {self.base}; list them with ls {RUNS}")
        raise InputError(f"run {ref!r} is ambiguous: {len(records)} runs start with it")

    def _latest_in(self, folder: Path) -> RecordedRun | None:
        if (folder / "decision.json").is_file():
            return RecordedRun(folder)
        attempts = [
            RecordedRun(p, attempt=p.name)
            for p in sorted((folder / ATTEMPTS).glob("*"))
            if (p / "decision.json").is_file()
        ]
        if not attempts:
            return None
        return max(attempts, key=lambda r: (str(r.decision_doc.get("evaluated_at")), _mtime(r)))

    def iter_runs(self, *, include_attempts: bool = False) -> Iterator[RecordedRun]:
        """Every run folder's current decision (sorted by folder), and with
        ``include_attempts`` every attempt after its run's decision; a run that only holds
        attempts (e.g. a rejected request) yields its newest attempt either way."""
        if not self.base.is_dir():
            return
        for p in sorted(self.base.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            has_current = (p / "decision.json").is_file()
            if has_current:
                yield RecordedRun(p)
            if include_attempts:
                for a in sorted((p / ATTEMPTS).glob("*")):
                    if (a / "decision.json").is_file():
                        yield RecordedRun(a, attempt=a.name)
            elif not has_current:
                latest = self._latest_in(p)
                if latest is not None:
                    yield latest

    # -- writing -------------------------------------------------------------------------

    def transaction(self, draft: RunDraft, extra: Mapping[str, bytes]) -> tuple[Transaction, Path]:
        """The transaction that records ``draft`` with the recorder's ``extra`` files
        (provenance): an error under its own attempt, any other decision as the run's
        current one (the decision it replaces, if any, is kept as an attempt).

        Returns the transaction (for the recorder to add its ledger entry and commit) and the
        folder the draft is recorded in.
        """
        decision = draft.decision
        current = decision.outcome != "error"
        folder = self.folder_of(decision, current=current)
        files = {**draft.files(), **extra}
        txn = Transaction(self.layout, lock=self.lock)
        if current:
            self._supersede(txn, folder, decision, set(files))
        for name, data in sorted(files.items()):
            txn.put(folder / name, data)
        return txn, folder

    def _supersede(self, txn: Transaction, folder: Path, new: Decision, names: set[str]) -> None:
        """Keep the folder's current decision as an attempt when ``new`` replaces it, and
        remove its files that ``new`` does not have (a stale public view, a FAIL event)."""
        old_files = self._top_files(folder)
        if not old_files:
            return
        try:
            old_doc = json.loads((folder / "decision.json").read_text(encoding="utf-8"))
            old_id = str(old_doc["decision_id"])
            run_folder_name(old_id)
        except (OSError, ValueError, KeyError, TypeError, InputError):
            old_id = (
                "unreadable-"
                + sha256_bytes(
                    (folder / "decision.json").read_bytes()
                    if (folder / "decision.json").exists()
                    else b""
                ).removeprefix("sha256:")[:24]
            )
        if old_id == new.decision_id:
            return  # the same decision again: same bytes, nothing to keep aside
        keep = folder / ATTEMPTS / (run_folder_name(old_id) if ":" in old_id else old_id)
        for rel in old_files:
            txn.link(keep / rel, folder / rel)
            if rel not in names:
                txn.remove(folder / rel)

    def _top_files(self, folder: Path) -> list[str]:
        out = [n for n in _TOP_FILES if (folder / n).is_file()]
        for d in _DIRS:
            sub = folder / d
            if sub.is_dir():
                out += sorted(f"{d}/{p.name}" for p in sub.iterdir() if p.is_file())
        return out

    def record(self, draft: RunDraft, *, version: str | None = None) -> Recorded:
        """Record ``draft``: its files, PROV-O (Turtle, JSON-LD), OpenLineage events and its
        ledger entry, in one transaction (see :meth:`transaction`). Then, outside the lock,
        the events go to any extra OpenLineage sink ``config['openlineage']`` (or
        ``OPENLINEAGE_URL``) names, through the lineage outbox (a failed delivery is a warning
        and the events wait in the outbox: the files are the record)."""
        from kfm_gate.ids import digest
        from kfm_gate.provenance.ledger import entry_from_decision
        from kfm_gate.provenance.lineage import build_run_events, event_files
        from kfm_gate.provenance.outbox import build_delivery_sinks
        from kfm_gate.provenance.prov import prov_triples, serialize_jsonld, serialize_turtle

        record = draft_provenance(draft, self.layout, version)
        graph = prov_triples(record)
        events = build_run_events(record)
        extra = {"prov.ttl": serialize_turtle(graph), "prov.jsonld": serialize_jsonld(graph)}
        extra.update(event_files(events))
        decision_doc = draft.decision.to_json_dict()
        entry = entry_from_decision(decision_doc, decision_digest=digest(decision_doc))
        txn, folder = self.transaction(draft, extra)
        txn.ledger(entry, receipt=folder / LEDGER_RECEIPT)
        commit = txn.commit()
        warnings: list[str] = []
        # through the outbox (provenance/outbox.py): kept until delivered, in order
        for sink in build_delivery_sinks(draft.config, self.layout.root, folder):
            try:
                sink.emit(events)
            except KfmGateError as err:
                warnings.append(str(err))
        return Recorded(self.load(folder), commit, warnings)


@dataclass(frozen=True)
class Recorded:
    """What :meth:`RunStore.record` wrote: the record, the commit, delivery warnings."""

    run: RecordedRun
    commit: Commit
    warnings: list[str]

    @property
    def ledger(self) -> dict[str, Any] | None:
        return self.commit.ledger[0] if self.commit.ledger else None


def _version(config: Mapping[str, Any], version: str | None) -> str:
    if version:
        return version
    packages = (config.get("environment") or {}).get("packages") or {}
    found = packages.get("kfm-gate") if isinstance(packages, Mapping) else None
    if isinstance(found, str) and found != "not installed":
        return found
    from kfm_gate import __version__

    return __version__


def draft_provenance(
    draft: RunDraft, layout: Layout | None = None, version: str | None = None
) -> RunRecord:
    """The provenance record (PROV-O, OpenLineage) of a draft."""
    run_dir = None if layout is None else layout.run_dir(draft.decision.run_id)
    return _provenance(draft, draft.public_view, run_dir, version)


def recorded_provenance(run: RecordedRun, version: str | None = None) -> RunRecord:
    """The provenance record of a recorded run (what the publisher builds catalogs from)."""
    return _provenance(run, run.public_view, run.folder if run.attempt is None else None, version)


def _provenance(
    source: RunDraft | RecordedRun,
    view: PublicView | None,
    run_dir: Path | None,
    version: str | None,
) -> RunRecord:
    from kfm_gate.provenance.record import RunRecord

    decision = source.decision
    return RunRecord(
        request=source.request,
        decision=decision,
        evidence=source.evidence,
        started_at=decision.evaluated_at,
        ended_at=decision.evaluated_at,
        version=_version(source.config, version),
        run_dir=run_dir,
        flags=source.flags,
        config=source.config,
        public_files=_public_files(view),
        published_geometry=None if view is None else view.footprint,
    )


def _public_files(view: PublicView | None) -> tuple[PublicFile, ...]:
    from kfm_gate.provenance.record import PublicFile

    if view is None:
        return ()
    return tuple(
        PublicFile(f.relpath, f.sha256, f.size, f.media_type, f.role, f.source) for f in view.files
    )


def _mtime(record: RecordedRun) -> float:
    try:
        return (record.folder / "decision.json").stat().st_mtime
    except OSError:
        return 0.0
