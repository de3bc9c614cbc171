"""The footprint the gate records for an allowed public view (what the catalogs publish)."""

from __future__ import annotations

import json
from pathlib import Path

from kfm_gate.footprint import footprint


def published_geometry(paths: list[Path]) -> object:
    return footprint((p.name, p.read_bytes()) for p in paths)


def _collection(path: Path, geometries: list[dict[str, object] | None]) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_footprint_is_the_bbox_of_points_and_other_geometries(tmp_path: Path) -> None:
    points = _collection(
        tmp_path / "a.geojson",
        [
            {"type": "Point", "coordinates": [-97.5, 38.25]},
            {"type": "Point", "coordinates": [-99, 37, 410.0]},  # an elevation is ignored
            None,  # a suppressed feature
        ],
    )
    polygons = _collection(
        tmp_path / "b.geojson",
        [
            {
                "type": "Polygon",
                "coordinates": [[[-98.0, 39.0], [-96.5, 39.0], [-96.5, 39.5], [-98.0, 39.0]]],
            }
        ],
    )
    assert published_geometry([points, polygons]) == {
        "type": "Polygon",
        "coordinates": [
            [[-99.0, 37.0], [-96.5, 37.0], [-96.5, 39.5], [-99.0, 39.5], [-99.0, 37.0]]
        ],
    }
    single = _collection(tmp_path / "c.geojson", [{"type": "Point", "coordinates": [-97, 38]}])
    assert published_geometry([single]) == {"type": "Point", "coordinates": [-97.0, 38.0]}
    assert published_geometry([_collection(tmp_path / "d.geojson", [None])]) is None
