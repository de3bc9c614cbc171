"""Regenerate the bundled example requests and their candidate files (deterministic).

    .venv/bin/python examples/build_examples.py

Each case is a PromotionRequest in ``requests/<case>.json`` whose outputs name files under
``data/processed/``; ``candidates/<case>/`` holds those files, which ``kfm-gate demo``
copies into place before gating. Site names, notes and contacts are invented; positions are
near Lawrence, Douglas County (ks-county-20045), offset so they are not real sites.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PIPELINE, DATASET, AOI, DAY = "survey", "historic_sites", "ks-county-20045", "2026-11-01"
CODE_REF = "5d41402abc4b2a76b9719d911017c592ae6f5c1e"

SITES: list[dict[str, Any]] = [
    {"site_id": "hs-20045-0001", "name": "Old Stone Mill", "site_type": "mill", "period_start": 1858, "period_end": 1901, "condition": "fair", "lon": -95.2412, "lat": 38.9717},
    {"site_id": "hs-20045-0002", "name": "Wakarusa School No. 4", "site_type": "school", "period_start": 1872, "period_end": 1946, "condition": "good", "lon": -95.3011, "lat": 38.9021},
    {"site_id": "hs-20045-0003", "name": "Clinton Church", "site_type": "church", "period_start": 1864, "period_end": 1930, "condition": "poor", "lon": -95.3602, "lat": 38.9133},
    {"site_id": "hs-20045-0004", "name": "Eudora Rail Depot", "site_type": "rail_depot", "period_start": 1880, "period_end": 1950, "condition": "good", "lon": -95.0987, "lat": 38.9431},
    {"site_id": "hs-20045-0005", "name": "Lecompton Homestead", "site_type": "homestead", "period_start": 1855, "period_end": 1899, "condition": "destroyed", "lon": -95.3923, "lat": 39.0412},
]
PUBLIC_FLAGS = {"classification": "public", "sensitivity": "public", "licenses": ["CC-BY-4.0"]}


def _feature_collection(sites: list[dict[str, Any]], **patch: Any) -> bytes:
    features = []
    for i, site in enumerate(sites):
        props = {k: v for k, v in site.items() if k not in ("lon", "lat")}
        props.update({"county_geoid": "20045", "notes": "Surveyed from the road; no access.", "recorder_contact": "KFM field team"})
        props.update(patch.get(str(i), {}))
        features.append({
            "type": "Feature",
            "id": site["site_id"],
            "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
            "properties": dict(sorted(props.items())),
        })
    doc = {"type": "FeatureCollection", "features": features}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _request(case: str, content: bytes, *, flags: Any = PUBLIC_FLAGS, time_key: str = DAY, **extra: Any) -> dict[str, Any]:
    path = f"data/processed/{PIPELINE}/{DATASET}/{AOI}/{time_key}/candidate/sites.geojson"
    source = f"source:{DATASET}-{case}"
    doc: dict[str, Any] = {
        "asset_key": f"kfm/{DATASET}/public",
        "pipeline": PIPELINE,
        "dataset": DATASET,
        "partition": {"aoi_key": AOI, "time_key": time_key},
        "code_ref": CODE_REF,
        "params": {"survey_round": 3},
        "inputs": [{"id": source, "kind": "source_manifest",
                    "sha256": "sha256:" + hashlib.sha256(source.encode()).hexdigest(),
                    "flags": flags}],
        "outputs": [{"path": path, "sha256": "sha256:" + hashlib.sha256(content).hexdigest(),
                     "media_type": "application/geo+json", "role": "data"}],
    }
    doc.update(extra)
    return doc


def cases() -> dict[str, tuple[dict[str, Any], bytes]]:
    clean = _feature_collection(SITES)
    pii = _feature_collection(SITES, **{"2": {"name": "Clinton Church (ask Dana Whitfield, 785-555-0142, dana.whitfield@example.org)"}})
    bad_quality = _feature_collection(SITES, **{"0": {"period_start": 1066, "site_type": "castle"}, "3": {"site_id": "hs-20045-0001"}})
    out = {
        "allow-douglas": (_request("allow-douglas", clean), clean),
        "deny-pii": (_request("deny-pii", pii), pii),
        "deny-quality": (_request("deny-quality", bad_quality), bad_quality),
        "deny-missing-flags": (_request("deny-missing-flags", clean, flags=None), clean),
        "quarantine-sacred": (_request("quarantine-sacred", clean, flags={**PUBLIC_FLAGS, "indigenous_rights_flag": True, "tk_labels": ["tkss"], "sovereignty_authorities": ["Demo Tribal Historic Preservation Office"]}), clean),
        "error-bad-date": (_request("error-bad-date", clean, time_key="2026-02-30"), clean),
    }
    # integer keys in the patches above are written as strings for the dict unpacking
    return out


def main() -> None:
    for case, (request, content) in cases().items():
        (HERE / "requests").mkdir(exist_ok=True)
        (HERE / "requests" / f"{case}.json").write_text(json.dumps(request, indent=2, sort_keys=True) + "\n")
        folder = HERE / "candidates" / case
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sites.geojson").write_bytes(content)
        print(f"wrote examples/requests/{case}.json")


if __name__ == "__main__":
    main()
