"""Source manifests (``data/sources/*.yml``) and their raw records, indexed by partition.

A :class:`SourceSnapshot` is one manifest as read now: the manifest, the digest of its
canonical JSON (the ``sha256`` the gate sees for this input: any edit of rights, flags,
checksum or watermark changes it), the raw records checked against the declared checksum, and
the (AOI, day) partitions those records feed. Reading is cached on the files' size and
modification time, so a run that gates many partitions parses each source once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from kfm_gate.errors import InputError
from kfm_gate.ids import digest, sha256_bytes
from kfm_gate.limits import load_yaml
from kfm_gate.models import InputRef, SourceManifest
from kfm_gate.models.base import describe_validation_error

SOURCES_DIR = "data/sources"
#: the column that says which county a record belongs to, and the one that gives its day
COUNTY_COLUMN = "county_geoid"
DAY_COLUMN = "survey_day"
COUNTY_PREFIX = "ks-county-"

Row = Mapping[str, str]


@dataclass(frozen=True)
class SourceSnapshot:
    """One source manifest with its verified raw records."""

    manifest: SourceManifest
    manifest_path: Path
    manifest_digest: str
    raw_sha256: str
    rows_by_partition: Mapping[tuple[str, str], tuple[Row, ...]] = field(repr=False)

    @property
    def source_id(self) -> str:
        return self.manifest.source_id

    @property
    def version(self) -> str:
        return self.manifest.source_head.version

    @property
    def partitions(self) -> tuple[tuple[str, str], ...]:
        """Every (aoi_key, day) this source feeds, sorted."""
        return tuple(sorted(self.rows_by_partition))

    def days(self) -> tuple[str, ...]:
        return tuple(sorted({d for _, d in self.rows_by_partition}))

    def day_digests(self) -> dict[str, str]:
        """Digest of the records of each day (tells an append from a correction)."""
        out: dict[str, str] = {}
        for day in self.days():
            rows = [
                dict(r)
                for (aoi, d), rs in sorted(self.rows_by_partition.items())
                if d == day
                for r in rs
            ]
            out[day] = digest(rows)
        return out

    def rows(self, aoi_key: str, day: str) -> tuple[Row, ...]:
        return self.rows_by_partition.get((aoi_key, day), ())

    def input_ref(self) -> InputRef:
        """This source as a gate input: id, manifest digest, version and flags."""
        return InputRef(
            id=f"source:{self.source_id}",
            kind="source_manifest",
            sha256=self.manifest_digest,
            version=self.version,
            flags=self.manifest.flags,
        )


def manifest_paths(root: Path) -> list[Path]:
    folder = root / SOURCES_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yml") if p.is_file())


def read_manifest(path: Path) -> tuple[SourceManifest, str]:
    """A manifest and the digest of its canonical JSON; InputError names the file and every
    invalid field with its expected type (strict YAML: ``no`` is a string, not false)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"source manifest {path} is unreadable: {err.strerror}") from err
    doc = load_yaml(raw, f"source manifest {path}")
    if not isinstance(doc, dict):
        raise InputError(f"source manifest {path} must be a YAML mapping")
    try:
        manifest = SourceManifest.model_validate(doc)
    except ValidationError as err:
        raise InputError(
            describe_validation_error(err, f"source manifest {path}")
            + " (see kfm_gate/models/manifest.py for the SourceDescriptor fields)"
        ) from err
    if path.stem != manifest.source_id:
        raise InputError(
            f"source manifest {path} declares source_id {manifest.source_id!r}: "
            f"name the file {manifest.source_id}.yml"
        )
    return manifest, digest(manifest.to_json_dict())


def load_snapshot(root: Path, path: Path) -> SourceSnapshot:
    """The manifest at ``path`` with its raw records, verified against the declared checksum."""
    manifest, manifest_digest = read_manifest(path)
    if not manifest.path:
        raise InputError(f"source manifest {path} has no 'path' to its raw file")
    raw = (root / manifest.path).resolve()
    try:
        raw.relative_to(root.resolve())
    except ValueError as err:
        raise InputError(
            f"source {manifest.source_id}: raw path {manifest.path!r} leaves the repository"
        ) from err
    if not raw.is_file():
        raise InputError(
            f"source {manifest.source_id}: raw file {manifest.path} does not exist; restore it "
            "or regenerate the demo data with `kfm-gate demo-data`"
        )
    st = raw.stat()
    raw_sha, rows = _read_raw(str(raw), st.st_mtime_ns, st.st_size)
    declared = manifest.source_head.content_identity.content_sha256
    if raw_sha != declared:
        raise InputError(
            f"source {manifest.source_id}: {manifest.path} has checksum {raw_sha} but the "
            f"manifest declares {declared}; fix source_head.content_identity.content_sha256 "
            "(and bump source_head.version for a correction) or restore the raw file"
        )
    return SourceSnapshot(manifest, path, manifest_digest, raw_sha, rows)


@lru_cache(maxsize=64)
def _read_raw(
    path: str, _mtime: int, _size: int
) -> tuple[str, Mapping[tuple[str, str], tuple[Row, ...]]]:
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"raw file {path} is not UTF-8: {err}") from err
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or ())
    if not {COUNTY_COLUMN, DAY_COLUMN} <= fields:
        raise InputError(
            f"raw file {path} lacks the column {COUNTY_COLUMN!r} or {DAY_COLUMN!r}: the pipeline "
            "partitions records by county and survey day"
        )
    grouped: dict[tuple[str, str], list[Row]] = {}
    for line, row in enumerate(reader, 2):
        geoid, day = (row.get(COUNTY_COLUMN) or "").strip(), (row.get(DAY_COLUMN) or "").strip()
        if not geoid or not day:
            raise InputError(f"raw file {path} line {line}: empty {COUNTY_COLUMN} or {DAY_COLUMN}")
        grouped.setdefault((f"{COUNTY_PREFIX}{geoid}", day), []).append(row)
    return sha256_bytes(data), {k: tuple(v) for k, v in grouped.items()}


def load_snapshots(root: Path, paths: Iterable[Path] | None = None) -> list[SourceSnapshot]:
    return [load_snapshot(root, p) for p in (manifest_paths(root) if paths is None else paths)]


def feeding(root: Path, aoi_key: str, day: str) -> list[SourceSnapshot]:
    """The sources whose records cover ``aoi_key`` (any day): the inputs of its partitions.

    A source that covers the county feeds each of its day partitions, even a day without
    records (the partition is then empty, and the gate still decides on it).
    """
    out = []
    for snap in load_snapshots(root):
        if any(a == aoi_key for a, _ in snap.rows_by_partition):
            out.append(snap)
    if not out:
        raise InputError(
            f"no source under {SOURCES_DIR}/ has records for {aoi_key}: nothing feeds partition "
            f"{aoi_key}|{day}; add a source manifest or pick a covered AOI"
        )
    return out
