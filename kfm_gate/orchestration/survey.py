"""The demo data: a deterministic, synthetic Kansas historic-site survey.

Field offices of six survey regions record sites county by county, day by day. Each region is
one *source*: a CSV of raw records under ``data/raw/<source_id>.csv`` and a source manifest
``data/sources/<source_id>.yml`` (KFM SourceDescriptor field names, checksum of the CSV,
append-only cadence, watermark = last day covered). Everything is drawn from
``random.Random(seed)``: the same arguments give byte-identical files.

The data is invented. It carries what a governance gate must catch: sites inside or near the
sensitive zones of ``data/aoi/zone_registry.geojson``, free-text notes and contacts with
(fictitious) e-mail addresses and phone numbers, and a few rows with quality problems
(period end before start, unknown condition or site type, an implausible year).

Regenerate with ``python -m kfm_gate.orchestration.survey --root .`` (or ``kfm-gate demo-data``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kfm_gate.ids import sha256_bytes
from kfm_gate.models import SourceManifest
from kfm_gate.orchestration.areas import County, load_counties

SEED = 20261101
DEFAULT_DAYS: tuple[str, ...] = ("2026-11-01", "2026-11-02", "2026-11-03")
SOURCES_DIR = "data/sources"
RAW_DIR = "data/raw"
COLUMNS: tuple[str, ...] = (
    "survey_day",
    "site_id",
    "name",
    "county_geoid",
    "site_type",
    "period_start",
    "period_end",
    "condition",
    "notes",
    "recorder_contact",
    "lon",
    "lat",
)
SITE_TYPES: tuple[str, ...] = (
    "homestead",
    "school",
    "church",
    "cemetery",
    "trading_post",
    "fort",
    "mill",
    "rail_depot",
    "burial_mound",
    "village_site",
)
#: site types recorded inside sensitive zones
ZONE_SITE_TYPES: tuple[str, ...] = ("burial_mound", "village_site")
CONDITIONS: tuple[str, ...] = ("good", "fair", "poor", "destroyed")
#: (source_id suffix, title) by (west-east band, north-south band)
REGIONS: dict[tuple[int, int], tuple[str, str]] = {
    (0, 1): ("nw", "Northwest"),
    (1, 1): ("nc", "North Central"),
    (2, 1): ("ne", "Northeast"),
    (0, 0): ("sw", "Southwest"),
    (1, 0): ("sc", "South Central"),
    (2, 0): ("se", "Southeast"),
}
#: longitude band edges (degrees) and the latitude split between north and south
LON_EDGES = (-99.5, -97.2)
LAT_SPLIT = 38.6

_SURNAMES = (
    "Hollis",
    "Bergman",
    "Whitaker",
    "Lindquist",
    "Osborne",
    "Pruitt",
    "Keller",
    "Navarro",
    "Dunbar",
    "Hasselman",
    "Ortega",
    "McAllister",
    "Stroud",
    "Vogel",
    "Carrington",
    "Nyberg",
)
_PLACES = (
    "Pleasant Hill",
    "Cedar Creek",
    "Prairie View",
    "Walnut Grove",
    "Spring Valley",
    "Sand Creek",
    "Buffalo Flats",
    "Lone Elm",
    "Indian Creek",
    "Council Grove Road",
)
_LABELS = {
    "homestead": "{s} Homestead",
    "school": "{p} School No. {n}",
    "church": "{p} Church",
    "cemetery": "{p} Cemetery",
    "trading_post": "{s} Trading Post",
    "fort": "Fort {s}",
    "mill": "{s} Mill",
    "rail_depot": "{p} Depot",
    "burial_mound": "{p} Mound Group",
    "village_site": "{p} Village Site",
}
_NOTES = (
    "Foundation stones visible; no standing structure.",
    "Surveyed from the public road; no access to the parcel.",
    "Cornerstone legible; roof partly collapsed.",
    "Shown on the 1887 county atlas; location confirmed.",
    "Graves marked with fieldstones; fence intact.",
    "Cellar depression and scattered brick.",
    "Listed in the 1936 WPA inventory.",
    "Partially restored by the local historical society.",
)
_FIRST = ("ann", "ben", "carla", "dev", "elin", "frank", "greta", "hal")
_LAST = ("marsh", "quill", "ridley", "sorensen", "tolliver", "underhill")
_CONTACTS = ("KFM field team", "County historical society", "Regional survey office")


@dataclass(frozen=True)
class SurveySettings:
    """What to generate: days, counties (None: all), rates and sizes, seed."""

    days: tuple[str, ...] = DEFAULT_DAYS
    county_ids: tuple[str, ...] | None = None
    rows_min: int = 5
    rows_max: int = 10
    rows_per_partition: int | None = None
    pii_rate: float = 0.04
    quality_rate: float = 0.025
    zone_rate: float = 0.35
    seed: int = SEED
    extra: dict[str, Any] = field(default_factory=dict)


def region_of(county: County) -> tuple[str, str]:
    """The (suffix, title) of the survey region a county belongs to (by its centroid)."""
    centroid = county.geometry.centroid  # type: ignore[attr-defined]
    band = 0 if centroid.x < LON_EDGES[0] else (1 if centroid.x < LON_EDGES[1] else 2)
    north = 1 if centroid.y >= LAT_SPLIT else 0
    return REGIONS[(band, north)]


def source_id_for(suffix: str) -> str:
    return f"ks_survey_{suffix}"


def _random_points(rng: random.Random, geometry: Any, count: int) -> list[tuple[float, float]]:
    import shapely

    minx, miny, maxx, maxy = geometry.bounds
    out: list[tuple[float, float]] = []
    for _ in range(count * 200):
        if len(out) == count:
            break
        x = rng.uniform(minx, maxx)
        y = rng.uniform(miny, maxy)
        if shapely.contains_xy(geometry, x, y):
            out.append((round(x, 6), round(y, 6)))
    if len(out) < count:  # a sliver: fall back to a point on the surface
        p = geometry.representative_point()
        out.extend((round(p.x, 6), round(p.y, 6)) for _ in range(count - len(out)))
    return out


def _zone_areas(root: Path, counties: Sequence[County]) -> dict[str, list[Any]]:
    """For each county id, the parts of sensitive zones (buffered) that fall inside it."""
    from kfm_gate.geo.registry import load_registries

    zones = load_registries(root / "data" / "aoi").zones.zones
    out: dict[str, list[Any]] = {}
    for county in counties:
        parts = []
        for zone in sorted(zones, key=lambda z: z.zone_id):
            geom = county.geometry
            if zone.search_geometry.intersects(geom):
                inter = zone.search_geometry.intersection(geom)
                if not inter.is_empty and inter.area > 0:
                    parts.append(inter)
        if parts:
            out[county.aoi_id] = parts
    return out


def _site_row(
    rng: random.Random,
    settings: SurveySettings,
    county: County,
    day: str,
    index: int,
    point: tuple[float, float],
    site_type: str,
) -> dict[str, str]:
    start = rng.randint(1500, 1930) if site_type not in ZONE_SITE_TYPES else rng.randint(1500, 1800)
    end = min(1950, start + rng.randint(5, 90))
    name = _LABELS[site_type].format(
        s=rng.choice(_SURNAMES), p=rng.choice(_PLACES), n=rng.randint(1, 120)
    )
    notes = rng.choice(_NOTES)
    contact = rng.choice(_CONTACTS)
    condition = rng.choice(CONDITIONS)
    if rng.random() < settings.pii_rate:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        if rng.random() < 0.5:
            notes += f" Owner asks to be called first: 785-555-01{rng.randint(10, 99)}."
        else:
            contact = f"{first}.{last}@example.org"
    if rng.random() < settings.quality_rate:
        problem = rng.randrange(4)
        if problem == 0:
            start, end = end, start  # period end before start
        elif problem == 1:
            condition = "unknown"
        elif problem == 2:
            site_type = "windmill_farm"
        else:
            start = 1210
    return {
        "survey_day": day,
        "site_id": f"hs-{county.geoid}-{day.replace('-', '')}-{index:04d}",
        "name": name,
        "county_geoid": county.geoid,
        "site_type": site_type,
        "period_start": str(start),
        "period_end": str(end),
        "condition": condition,
        "notes": notes,
        "recorder_contact": contact,
        "lon": f"{point[0]:.6f}",
        "lat": f"{point[1]:.6f}",
    }


def generate_rows(root: Path, settings: SurveySettings) -> dict[str, list[dict[str, str]]]:
    """The raw rows of every source, keyed by source id (deterministic)."""
    counties = load_counties(root)
    if settings.county_ids is not None:
        wanted = set(settings.county_ids)
        counties = tuple(c for c in counties if c.aoi_id in wanted)
        missing = wanted - {c.aoi_id for c in counties}
        if missing:
            raise ValueError(f"unknown county ids {sorted(missing)}: use ks-county-<GEOID>")
    zone_areas = _zone_areas(root, counties)
    rows: dict[str, list[dict[str, str]]] = {}
    for day in settings.days:
        dt.date.fromisoformat(day)
    for county in counties:
        suffix, _ = region_of(county)
        # one stream per county: adding a county does not change the others
        rng = random.Random(f"{settings.seed}:{county.aoi_id}")
        for day in settings.days:
            n = settings.rows_per_partition or rng.randint(settings.rows_min, settings.rows_max)
            zone_parts = zone_areas.get(county.aoi_id, [])
            in_zone = 0
            if zone_parts and rng.random() < settings.zone_rate:
                in_zone = min(n, rng.randint(1, 2))
            points = _random_points(rng, county.geometry, n - in_zone)
            types = [rng.choice(SITE_TYPES) for _ in points]
            for _ in range(in_zone):
                part = rng.choice(zone_parts)
                points.extend(_random_points(rng, part, 1))
                types.append(rng.choice(ZONE_SITE_TYPES))
            for i, (point, site_type) in enumerate(zip(points, types, strict=True), 1):
                row = _site_row(rng, settings, county, day, i, point, site_type)
                rows.setdefault(source_id_for(suffix), []).append(row)
    return rows


def csv_bytes(rows: Sequence[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r["survey_day"], r["county_geoid"], r["site_id"])):
        writer.writerow(row)
    return buf.getvalue().encode("utf-8")


def manifest_doc(
    source_id: str,
    title: str,
    content: bytes,
    watermark: str,
    *,
    version: str = "1",
    predecessor_version: str | None = None,
) -> dict[str, Any]:
    """The source manifest of one regional survey (validated against SourceManifest)."""
    doc: dict[str, Any] = {
        "schema_version": "1",
        "source_id": source_id,
        "title": f"Kansas historic-site survey, {title} region (synthetic demo data)",
        "rights": {
            "rights_status": "verified_open",
            "license_or_terms": "CC-BY-4.0",
            "rights_holder": "Kansas Frontier Matrix demo (invented data)",
            "redistribution_allowed": True,
        },
        "access": {"access_method": "file", "access_posture": "public"},
        "cadence": {"update_cadence": "append_only"},
        "sensitivity_default": "public",
        "source_head": {
            "content_identity": {"content_sha256": sha256_bytes(content)},
            "version": version,
            "predecessor_version": predecessor_version,
        },
        "flags": {
            "classification": "public",
            "sensitivity": "public",
            "care_class": "public",
            "licenses": ["CC-BY-4.0"],
        },
        "path": f"{RAW_DIR}/{source_id}.csv",
        "watermark": watermark,
    }
    SourceManifest.model_validate(doc)
    return doc


def manifest_yaml(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode("utf-8")


def survey_files(root: Path, settings: SurveySettings | None = None) -> dict[Path, bytes]:
    """The raw CSV and manifest of every source, as ``{path: bytes}`` (nothing written)."""
    settings = settings or SurveySettings()
    rows = generate_rows(root, settings)
    titles = {source_id_for(s): t for s, t in REGIONS.values()}
    files: dict[Path, bytes] = {}
    for source_id in sorted(rows):
        content = csv_bytes(rows[source_id])
        watermark = max(r["survey_day"] for r in rows[source_id])
        files[root / RAW_DIR / f"{source_id}.csv"] = content
        files[root / SOURCES_DIR / f"{source_id}.yml"] = manifest_yaml(
            manifest_doc(source_id, titles[source_id], content, watermark)
        )
    return files


def write_survey(root: Path, settings: SurveySettings | None = None) -> list[Path]:
    """Write ``data/raw/<source>.csv`` and ``data/sources/<source>.yml``; returns the paths."""
    files = survey_files(root, settings)
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    return list(files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path())
    parser.add_argument("--days", nargs="*", default=list(DEFAULT_DAYS))
    args = parser.parse_args(argv)
    for path in write_survey(args.root.resolve(), SurveySettings(days=tuple(args.days))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
