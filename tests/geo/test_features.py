from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kfm_gate.errors import InputError
from kfm_gate.geo.features import FeatureSet, read_feature_collection
from tests.geo.conftest import feature_collection, point, write_json


def _read(tmp_path: Path, doc: Any) -> FeatureSet:
    return read_feature_collection(write_json(tmp_path / "c.geojson", doc), "c.geojson")


def test_reads_points_lines_polygons(tmp_path: Path) -> None:
    doc = feature_collection(
        [
            point("a", -95.3, 38.9),
            {
                "type": "Feature",
                "properties": {"feature_id": "b"},
                "geometry": {"type": "LineString", "coordinates": [[-95.3, 38.9], [-95.2, 38.95]]},
            },
            {
                "type": "Feature",
                "id": 7,
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[-95.3, 38.9], [-95.2, 38.9], [-95.2, 39.0], [-95.3, 38.9]]],
                },
            },
        ],
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
    )
    fs = _read(tmp_path, doc)
    assert fs.ids.tolist() == ["a", "b", "7"]
    assert fs.is_point.tolist() == [True, False, False]
    assert fs.geoms[0] is None and fs.geoms[2].geom_type == "Polygon"


BAD = {
    "nan": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Point",'
        '"coordinates":[NaN,38.9]}}]',
        "NaN or infinite",
    ),
    "infinite": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Point",'
        '"coordinates":[-95.3,Infinity]}}]',
        "NaN or infinite",
    ),
    "latitude": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Point",'
        '"coordinates":[38.9,-95.3]}}]',
        "out of range",
    ),
    "empty_point": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Point",'
        '"coordinates":[]}}]',
        "empty or malformed",
    ),
    "null_geometry": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":null}]',
        "empty geometry",
    ),
    "empty_polygon": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Polygon",'
        '"coordinates":[]}}]',
        "empty geometry",
    ),
    "self_intersecting": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Polygon","coordinates":'
        "[[[-95.3,38.9],[-95.2,39.0],[-95.2,38.9],[-95.3,39.0],[-95.3,38.9]]]}}]",
        "Self-intersection",
    ),
    "no_id": (
        '[{"type":"Feature","properties":{},"geometry":{"type":"Point",'
        '"coordinates":[-95.3,38.9]}}]',
        "no stable id",
    ),
    "duplicate_id": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":"Point",'
        '"coordinates":[-95.3,38.9]}},{"type":"Feature","id":"a","properties":{},'
        '"geometry":{"type":"Point","coordinates":[-95.2,38.9]}}]',
        "repeat a stable id",
    ),
    "collection": (
        '[{"type":"Feature","id":"a","properties":{},"geometry":{"type":'
        '"GeometryCollection","geometries":[]}}]',
        "not supported",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_with_row_and_fix(tmp_path: Path, case: str) -> None:
    features, message = BAD[case]
    path = tmp_path / "bad.geojson"
    path.write_text('{"type":"FeatureCollection","features":' + features + "}")
    with pytest.raises(InputError, match=message) as info:
        read_feature_collection(path, "bad.geojson")
    text = str(info.value)
    assert "bad.geojson" in text
    assert "-95.3" not in text and "38.9" not in text  # never a coordinate in a message


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        {"type": "name", "properties": {"name": "EPSG:5070"}},
    ],
)
def test_second_crs_refused(tmp_path: Path, crs: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="second CRS"):
        _read(tmp_path, feature_collection([point("a", -95.3, 38.9)], crs=crs))


def test_second_crs_on_a_feature_refused(tmp_path: Path) -> None:
    f = point("a", -95.3, 38.9)
    f["crs"] = {"type": "name", "properties": {"name": "EPSG:26914"}}
    with pytest.raises(InputError, match="second CRS"):
        _read(tmp_path, feature_collection([f]))


def test_from_points_validates() -> None:
    with pytest.raises(InputError, match="out of range"):
        FeatureSet.from_points(["a"], [-95.0], [95.0])
    with pytest.raises(InputError, match="repeat a stable id"):
        FeatureSet.from_points(["a", "a"], [-95.0, -95.1], [39.0, 39.0])
