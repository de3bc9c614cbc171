"""The processing step of the historic-sites pipeline, without Dagster.

For one AOI x day partition: read the records of the sources that feed it, write the
candidate GeoJSON under ``data/processed/<pipeline>/<dataset>/<aoi>/<day>/candidate/`` and the
:class:`~kfm_gate.models.PromotionRequest` beside it (``request.json``). Same sources, same
bytes: files are rewritten only when their content changes.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from kfm_gate.ids import sha256_bytes, validate_aoi_key, validate_time_key
from kfm_gate.layout import Layout, partition_rel
from kfm_gate.models import OutputRef, Partition, PromotionRequest
from kfm_gate.orchestration.sources import Row, SourceSnapshot, feeding
from kfm_gate.runs import dumps

PIPELINE = "survey"
DATASET = "historic_sites"
#: the gated asset, as the request names it (Dagster key kfm / processed / historic_sites)
ASSET_KEY = "kfm/processed/historic_sites"
CANDIDATE_FILE = "sites.geojson"
REQUEST_FILE = "request.json"
TRANSFORM = {"transform": "survey_csv_to_geojson", "transform_version": 1}
PROPERTIES = (
    "site_id",
    "feature_id",
    "name",
    "county_geoid",
    "site_type",
    "period_start",
    "period_end",
    "condition",
    "notes",
    "recorder_contact",
)


def partition_dir(
    aoi_key: str, day: str, *, pipeline: str = PIPELINE, dataset: str = DATASET
) -> str:
    """``data/processed/<pipeline>/<dataset>/<aoi>/<day>`` (relative to the root)."""
    validate_aoi_key(aoi_key)
    validate_time_key(day)
    return partition_rel(pipeline, dataset, aoi_key, day)


def request_path(root: Path, aoi_key: str, day: str, **names: str) -> Path:
    return root / partition_dir(aoi_key, day, **names) / REQUEST_FILE


@lru_cache(maxsize=4)
def default_code_ref(root: str) -> str:
    """The git commit of ``root`` when it is a checkout, else the kfm-gate version."""
    try:
        out = subprocess.run(
            ["git", "-C", root, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        sha = out.stdout.strip()
        if out.returncode == 0 and len(sha) == 40:
            return sha
    except (OSError, subprocess.SubprocessError):
        pass
    return f"kfm-gate-{metadata.version('kfm-gate')}"


def _number(value: str) -> Any:
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text or None


def _feature(row: Row) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name in PROPERTIES:
        raw = row.get("site_id" if name == "feature_id" else name, "") or ""
        props[name] = _number(raw) if name in ("period_start", "period_end") else raw
    try:
        coords: list[float] | None = [float(row["lon"]), float(row["lat"])]
    except (KeyError, TypeError, ValueError):
        coords = None
    return {
        "type": "Feature",
        "id": props["site_id"],
        "geometry": None if coords is None else {"type": "Point", "coordinates": coords},
        "properties": props,
    }


def candidate_bytes(rows: list[Row]) -> bytes:
    features = sorted((_feature(r) for r in rows), key=lambda f: str(f["id"]))
    doc = {"type": "FeatureCollection", "features": features}
    return (
        json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    ).encode("utf-8")


@dataclass(frozen=True)
class Candidate:
    """What the processing step produced for one partition."""

    request: PromotionRequest
    request_path: Path
    candidate_path: Path
    rows: int
    sources: tuple[SourceSnapshot, ...]
    changed: bool  # False when every file already had these bytes


def _write_if_changed(layout: Layout, path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    layout.write_bytes(path, data)
    return True


def build_candidate(
    root: Path,
    aoi_key: str,
    day: str,
    *,
    code_ref: str | None = None,
    params: dict[str, Any] | None = None,
) -> Candidate:
    """Write the candidate and request of partition ``aoi_key|day``; InputError when unfed."""
    root = root.resolve()
    layout = Layout(root)
    base = partition_dir(aoi_key, day)
    snapshots = feeding(root, aoi_key, day)
    rows: list[Row] = [r for s in snapshots for r in s.rows(aoi_key, day)]
    data = candidate_bytes(rows)
    cand_rel = f"{base}/candidate/{CANDIDATE_FILE}"
    cand_path = layout.resolve_relative(cand_rel)
    changed = _write_if_changed(layout, cand_path, data)
    request = PromotionRequest(
        asset_key=ASSET_KEY,
        pipeline=PIPELINE,
        dataset=DATASET,
        partition=Partition(aoi_key=aoi_key, time_key=day),
        code_ref=code_ref or default_code_ref(str(root)),
        params={**TRANSFORM, **(params or {})},
        inputs=tuple(s.input_ref() for s in snapshots),
        outputs=(
            OutputRef(
                path=cand_rel,
                sha256=sha256_bytes(data),
                media_type="application/geo+json",
                role="data",
            ),
        ),
    )
    req_path = layout.resolve_relative(f"{base}/{REQUEST_FILE}")
    changed = (
        _write_if_changed(layout, req_path, dumps(request.to_json_dict()).encode("utf-8"))
        or changed
    )
    return Candidate(request, req_path, cand_path, len(rows), tuple(snapshots), changed)
