"""The source sensor's cursor and what it decides to run, without Dagster.

The cursor keeps, per source: the digest of its manifest (canonical JSON), the checksum of its
raw file, its version, its watermark and a digest of each day's records. On each tick:

* a manifest whose digest is unchanged produces nothing;
* a new source produces every partition it feeds;
* an **append** to an append-only source (new days only, earlier days untouched) produces only
  the partitions of the new days;
* a **correction** (records of days already seen changed) must come as a new
  ``source_head.version`` whose ``predecessor_version`` names the version the cursor holds; it
  re-gates every partition the source feeds. A correction without a new version is refused
  (the cursor keeps the old state, so the sensor reports it again until it is fixed);
* any other manifest change (rights, flags, access) re-gates every partition the source feeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfm_gate.errors import KfmGateError
from kfm_gate.orchestration.sources import SourceSnapshot, load_snapshot, manifest_paths

CURSOR_VERSION = 1


@dataclass(frozen=True)
class SourceState:
    """What the cursor remembers of one source."""

    manifest_digest: str
    content_sha256: str
    version: str
    watermark: str | None
    days: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest_digest": self.manifest_digest,
            "content_sha256": self.content_sha256,
            "version": self.version,
            "watermark": self.watermark,
            "days": dict(sorted(self.days.items())),
        }

    @classmethod
    def of(cls, snap: SourceSnapshot) -> SourceState:
        return cls(
            manifest_digest=snap.manifest_digest,
            content_sha256=snap.raw_sha256,
            version=snap.version,
            watermark=snap.manifest.watermark,
            days=snap.day_digests(),
        )


@dataclass(frozen=True)
class SourceChange:
    """One source to (re-)gate: why, which partitions, and the version chain."""

    source_id: str
    reason: str  # new | append | correction | manifest
    manifest_digest: str
    version: str
    predecessor_version: str | None
    partitions: tuple[tuple[str, str], ...]


@dataclass
class SourcePlan:
    """The outcome of one tick: changes to run, problems to report, the next cursor."""

    changes: list[SourceChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)

    def partitions(self, known_aois: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Every partition to run once, sorted (AOIs outside ``known_aois`` left out)."""
        known = None if known_aois is None else set(known_aois)
        keys = {p for c in self.changes for p in c.partitions}
        return sorted(p for p in keys if known is None or p[0] in known)

    def cursor_json(self) -> str:
        return json.dumps(self.cursor, sort_keys=True, separators=(",", ":"))


def parse_cursor(raw: str | None) -> dict[str, SourceState]:
    """The sources of a cursor string; an unreadable or older cursor starts afresh."""
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION:
        return {}
    out = {}
    for sid, s in (doc.get("sources") or {}).items():
        try:
            out[sid] = SourceState(
                manifest_digest=str(s["manifest_digest"]),
                content_sha256=str(s["content_sha256"]),
                version=str(s["version"]),
                watermark=s.get("watermark"),
                days={str(k): str(v) for k, v in (s.get("days") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError):
            continue
    return out


def _classify(old: SourceState, snap: SourceSnapshot) -> tuple[str, tuple[tuple[str, str], ...]]:
    new = SourceState.of(snap)
    head = snap.manifest.source_head
    if new.version != old.version and head.predecessor_version != old.version:
        raise KfmGateError(
            f"source {snap.source_id}: version {new.version} names predecessor "
            f"{head.predecessor_version!r}, but the last version seen is {old.version!r}; set "
            f"source_head.predecessor_version: '{old.version}'"
        )
    changed_days = sorted(d for d in old.days if d not in new.days or new.days[d] != old.days[d])
    new_days = sorted(set(new.days) - set(old.days))
    append_only = snap.manifest.cadence.update_cadence == "append_only"
    if new.content_sha256 == old.content_sha256:
        return "manifest", snap.partitions
    if not changed_days and new_days and append_only:
        return "append", tuple(p for p in snap.partitions if p[1] in set(new_days))
    if new.version == old.version:
        raise KfmGateError(
            f"source {snap.source_id}: records of day(s) {', '.join(changed_days) or '-'} "
            f"changed without a new version (still {old.version!r}); a correction must set "
            f"source_head.version to a new value and predecessor_version: '{old.version}'"
        )
    return "correction", snap.partitions


def plan_source_runs(root: Path, cursor: str | None) -> SourcePlan:
    """What the sensor should run for the manifests under ``root/data/sources`` now."""
    previous = parse_cursor(cursor)
    plan = SourcePlan()
    states: dict[str, dict[str, Any]] = {}
    for path in manifest_paths(root):
        sid_guess = path.stem
        try:
            snap = load_snapshot(root, path)
        except KfmGateError as err:
            plan.problems.append(str(err))
            if sid_guess in previous:
                states[sid_guess] = previous[sid_guess].to_json()
            continue
        old = previous.get(snap.source_id)
        state = SourceState.of(snap)
        head = snap.manifest.source_head
        if old is not None and old.manifest_digest == snap.manifest_digest:
            states[snap.source_id] = old.to_json()
            continue
        if old is None:
            reason, partitions = "new", snap.partitions
        else:
            try:
                reason, partitions = _classify(old, snap)
            except KfmGateError as err:
                plan.problems.append(str(err))
                states[snap.source_id] = old.to_json()
                continue
        plan.changes.append(
            SourceChange(
                source_id=snap.source_id,
                reason=reason,
                manifest_digest=snap.manifest_digest,
                version=head.version,
                predecessor_version=head.predecessor_version,
                partitions=partitions,
            )
        )
        states[snap.source_id] = state.to_json()
    plan.cursor = {"v": CURSOR_VERSION, "sources": dict(sorted(states.items()))}
    return plan
