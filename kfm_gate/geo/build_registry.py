"""Regenerate ``data/aoi/`` from the shared reference data, deterministically.

Usage: ``python -m kfm_gate.geo.build_registry [--shared ../shared/data] [--out data/aoi]``

* ``aoi_registry.geojson``: the 105 Kansas counties (``ks-county-<GEOID>``, kind ``county``)
  plus one invented project AOI marked ``demo``.
* ``zone_registry.geojson``: the 7 schematic AIANNH areas of the fixture (real codes,
  **schematic shapes**, flagged ``schematic``) and three invented sensitive sites (``demo``).
  Sovereignty flags of every zone here are illustrative: no nation assigned them.
* ``localcontexts_vocab.json``: the Local Contexts label and notice identifiers.

Geometry is copied as it is in the source (the Iowa KS polygon stays self-intersecting; the
loader repairs it with a recorded warning). Output: one feature per line, sorted by id.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path
from typing import Any

#: the three invented sites: (id, name, lon, lat, radius m, tier, care, sensitivity, labels)
DEMO_SITES: tuple[dict[str, Any], ...] = (
    {
        "zone_id": "zone-demo-site-a",
        "name": "DEMO sacred site A (invented, Douglas County)",
        "center": (-95.4100, 38.8900),
        "radius_m": 400.0,
        "masking_tier": "sacred",
        "care_class": "sacred",
        "sensitivity": "cultural_sensitive",
        "tk_labels": ["tkss"],
        "bc_labels": [],
        "notices": ["traditional_knowledge"],
        "buffer_m": 1000,
    },
    {
        "zone_id": "zone-demo-site-b",
        "name": "DEMO burial site B (invented, Riley County)",
        "center": (-96.6400, 39.2600),
        "radius_m": 250.0,
        "masking_tier": "sensitive",
        "care_class": "sensitive",
        "sensitivity": "cultural_sensitive",
        "tk_labels": ["tkcs"],
        "bc_labels": [],
        "notices": ["traditional_knowledge"],
        "buffer_m": 500,
    },
    {
        "zone_id": "zone-demo-site-c",
        "name": "DEMO archaeological site C (invented, Sedgwick County)",
        "center": (-97.5200, 37.7000),
        "radius_m": 300.0,
        "masking_tier": "community",
        "care_class": "community",
        "sensitivity": "sensitive_location",
        "tk_labels": [],
        "bc_labels": ["bcr"],
        "notices": ["biocultural"],
        "buffer_m": 250,
    },
)

#: illustrative authorities of the AIANNH areas, by Census code
AUTHORITIES: dict[str, list[str]] = {
    "202980R": ["Prairie Band Potawatomi Nation"],
    "204910R": [
        "Kickapoo Tribe in Kansas",
        "Sac and Fox Nation of Missouri in Kansas and Nebraska",
    ],
    "201770R": ["Kickapoo Tribe in Kansas"],
    "203285R": ["Sac and Fox Nation of Missouri in Kansas and Nebraska"],
    "313285R": ["Sac and Fox Nation of Missouri in Kansas and Nebraska"],
    "201590R": ["Iowa Tribe of Kansas and Nebraska"],
    "311590R": ["Iowa Tribe of Kansas and Nebraska"],
}

DEMO_PROJECT = {
    "aoi_id": "ks-project-demo-kaw-valley",
    "name": "DEMO project AOI: Kaw valley (invented box)",
    "bbox": (-95.90, 38.85, -95.10, 39.15),
}

_COUNTY_FLAGS = {"classification": "public", "sensitivity": "public", "care_class": "public"}
_PROJECT_FLAGS = {"classification": "internal", "sensitivity": "low", "care_class": "public"}


def _circle(lon: float, lat: float, radius_m: float, n: int = 32) -> list[list[list[float]]]:
    """A lon/lat polygon approximating a circle (local metres, enough for a demo zone)."""
    m_per_deg_lat = 111_132.0
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat))
    ring = []
    for i in range(n):
        a = 2 * math.pi * i / n
        ring.append(
            [
                round(lon + radius_m * math.cos(a) / m_per_deg_lon, 6),
                round(lat + radius_m * math.sin(a) / m_per_deg_lat, 6),
            ]
        )
    ring.append(ring[0])
    return [ring]


def _collection(meta: dict[str, Any], features: list[dict[str, Any]]) -> str:
    head = json.dumps({"type": "FeatureCollection", "kfm:registry": meta}, sort_keys=True)
    lines = [json.dumps(f, sort_keys=True, ensure_ascii=False) for f in features]
    return head[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def build_aoi(shared: Path) -> str:
    src = json.loads((shared / "ks_counties.geojson").read_text(encoding="utf-8"))
    features = []
    for f in src["features"]:
        p = f["properties"]
        aoi_id = f"ks-county-{p['GEOID']}"
        features.append(
            {
                "type": "Feature",
                "id": aoi_id,
                "properties": {
                    "aoi_id": aoi_id,
                    "name": p["NAME"],
                    "kind": "county",
                    "geoid": p["GEOID"],
                    "countyns": p["COUNTYNS"],
                    "flags": _COUNTY_FLAGS,
                },
                "geometry": f["geometry"],
            }
        )
    x0, y0, x1, y1 = DEMO_PROJECT["bbox"]
    features.append(
        {
            "type": "Feature",
            "id": DEMO_PROJECT["aoi_id"],
            "properties": {
                "aoi_id": DEMO_PROJECT["aoi_id"],
                "name": DEMO_PROJECT["name"],
                "kind": "project",
                "demo": True,
                "flags": _PROJECT_FLAGS,
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
            },
        }
    )
    features.sort(key=lambda f: f["id"])
    meta = {
        "id": "kfm-aoi-ks",
        "kind": "aoi",
        "crs": "EPSG:4326",
        "version": "1",
        "source": "US Census cb_2018 county attributes on Energy-DVA/energy geometry "
        "(see data/aoi/README.md); ks-project-demo-* entries are invented",
    }
    return _collection(meta, features)


def build_zones(shared: Path) -> str:
    src = json.loads((shared / "aiannh_ks_schematic_fixture.geojson").read_text(encoding="utf-8"))
    features = []
    for f in src["features"]:
        p = f["properties"]
        code = p["census"]
        zone_id = f"zone-aiannh-{code.lower()}"
        features.append(
            {
                "type": "Feature",
                "id": zone_id,
                "properties": {
                    "zone_id": zone_id,
                    "name": f"{p['name']} (SCHEMATIC shape)",
                    "kind": "tribal_area",
                    "census_code": code,
                    "gnis": p["gnis"],
                    "authority": AUTHORITIES[code],
                    "classification": "public",
                    "sensitivity": "sensitive_location",
                    "care_class": "sensitive",
                    "indigenous_rights_flag": True,
                    "tk_labels": [],
                    "bc_labels": [],
                    "notices": ["open_to_collaborate"],
                    "masking_tier": "sensitive",
                    "buffer_m": 1000,
                    "schematic": True,
                    "demo": False,
                    "note": "SCHEMATIC geometry (test fixture), not a real boundary; flags "
                    "are illustrative, not assigned by the nation",
                },
                "geometry": f["geometry"],
            }
        )
    for site in DEMO_SITES:
        lon, lat = site["center"]
        features.append(
            {
                "type": "Feature",
                "id": site["zone_id"],
                "properties": {
                    "zone_id": site["zone_id"],
                    "name": site["name"],
                    "kind": "sensitive_site",
                    "authority": ["DEMO community authority (invented)"],
                    "classification": "public",
                    "sensitivity": site["sensitivity"],
                    "care_class": site["care_class"],
                    "indigenous_rights_flag": True,
                    "tk_labels": site["tk_labels"],
                    "bc_labels": site["bc_labels"],
                    "notices": site["notices"],
                    "masking_tier": site["masking_tier"],
                    "buffer_m": site["buffer_m"],
                    "schematic": True,
                    "demo": True,
                    "note": "DEMO: invented site to exercise masking; not a real place",
                },
                "geometry": {"type": "Polygon", "coordinates": _circle(lon, lat, site["radius_m"])},
            }
        )
    features.sort(key=lambda f: f["id"])
    meta = {
        "id": "kfm-zones-ks-demo",
        "kind": "zones",
        "crs": "EPSG:4326",
        "version": "1",
        "source": "AIANNH schematic fixture (USSBA/hubzone-webmap) and invented demo sites; "
        "see data/aoi/README.md",
    }
    return _collection(meta, features)


def build(shared: Path, out: Path) -> list[Path]:
    """Write the three registry files into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("aoi_registry.geojson", build_aoi(shared)),
        ("zone_registry.geojson", build_zones(shared)),
    ):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    vocab = out / "localcontexts_vocab.json"
    shutil.copyfile(shared / "localcontexts_vocab.json", vocab)
    written.append(vocab)
    return written


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=here.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=here / "data" / "aoi")
    args = parser.parse_args(argv)
    for path in build(args.shared, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
