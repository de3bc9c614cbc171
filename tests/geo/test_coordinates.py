"""Coordinates outside the geometry (issue #12, item 8).

On 584f44a a masked public view kept each feature's ``lon``/``lat`` properties (and WKT or
``"38.9, -95.2"`` strings, and CSV position columns) at their exact values. Now every
coordinate-like field of a treated feature moves with its geometry, the verification checks
the published properties, and what cannot be masked is refused with a reason code.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from kfm_gate.errors import InputError
from kfm_gate.geo.coordinates import (
    Transform,
    check_properties,
    field_role,
    mask_properties,
    read_csv_points,
)
from kfm_gate.geo.masking import distance_m
from kfm_gate.geo.registry import Registries
from kfm_gate.geo.verification import GeoVerificationCollector
from tests.geo.conftest import feature_collection, write_json
from tests.geo.test_verification import AOI, ZONE, run_geo

# -- the transform ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("lon", "lon"),
        ("LAT", "lat"),
        ("site_lon", "lon"),
        ("decimalLongitude", "lon"),
        ("decimalLatitude", "lat"),
        ("Longitude", "lon"),
        ("lng", "lon"),
        ("coords", "pair"),
        ("latlon", "pair"),
        ("the_geom", "pair"),
        ("location", "pair"),
        ("max", None),
        ("index", None),
        ("name", None),
        ("longevity", None),
    ],
)
def test_field_roles(name: str, role: str | None) -> None:
    assert field_role(name) == role


def test_x_and_y_count_only_as_a_pair() -> None:
    props = {"x": -95.5, "count": 3}
    assert mask_properties(props, Transform(point=(1.0, 2.0)))[0] == props
    moved, tally = mask_properties({"x": -95.5, "y": 39.0}, Transform(point=(1.0, 2.0)))
    assert moved == {"x": 1.0, "y": 2.0} and tally.fields == 2 and tally.unmasked == 0


def test_every_form_moves_to_the_published_point() -> None:
    lon, lat = -95.841234, 39.351234
    props = {
        "lon": lon,
        "lat": str(lat),
        "where": f"{lat}, {lon}",
        "wkt": f"POINT ({lon} {lat})",
        "location": {"latitude": lat, "longitude": lon},
        "coords": [lon, lat],
        "latlng": [lat, lon],
        "geom": {"type": "Point", "coordinates": [lon, lat]},
        "name": "Old Mill",
        "kfm:privacy_method": "donut_geomask_v1",
    }
    moved, tally = mask_properties(props, Transform(point=(-95.8, 39.4)))
    assert tally.unmasked == 0 and tally.fields == 9
    text = json.dumps(moved)
    assert "841234" not in text and "351234" not in text
    assert moved["lon"] == -95.8 and moved["lat"] == "39.400000000"
    assert moved["where"] == "39.400000000, -95.800000000"
    assert moved["wkt"] == "POINT (-95.8 39.4)"
    assert moved["location"] == {"latitude": 39.4, "longitude": -95.8}
    assert moved["coords"] == [-95.8, 39.4] and moved["latlng"] == [39.4, -95.8]
    assert moved["geom"] == {"type": "Point", "coordinates": [-95.8, 39.4]}
    assert moved["name"] == "Old Mill" and moved["kfm:privacy_method"] == "donut_geomask_v1"
    assert check_properties(props, moved, Transform(point=(-95.8, 39.4))).unmasked == 0


def test_a_translated_shape_moves_its_fields_by_the_same_offset() -> None:
    props = {"lon": -95.8, "lat": 39.3, "wkt": "LINESTRING (-95.8 39.3, -95.7 39.35)"}
    moved, _ = mask_properties(props, Transform(shift=(0.01, -0.02)))
    assert moved["lon"] == pytest.approx(-95.79) and moved["lat"] == pytest.approx(39.28)
    line = shapely.from_wkt(moved["wkt"])
    assert np.allclose(shapely.get_coordinates(line), [[-95.79, 39.28], [-95.69, 39.33]])


def test_projected_coordinates_cannot_be_masked_and_are_counted() -> None:
    props = {"x": 512345.6, "y": 1734567.8, "lat": 39.2}
    moved, tally = mask_properties(props, Transform(point=(-95.8, 39.4)))
    assert moved["x"] == 512345.6 and tally.unmasked == 2
    assert check_properties(props, moved, Transform(point=(-95.8, 39.4))).unmasked == 2


def test_check_counts_a_field_left_exact() -> None:
    props = {"lon": -95.84, "lat": 39.35, "notes": "redacted later"}
    moved, _ = mask_properties(props, Transform(point=(-95.8, 39.4)))
    tampered = {**moved, "lat": 39.35, "notes": "[REDACTED]"}
    result = check_properties(props, tampered, Transform(point=(-95.8, 39.4)))
    assert result.fields == 2 and result.unmasked == 1  # a changed non-coordinate is not counted
    dropped = {k: v for k, v in moved.items() if k != "lat"}
    assert check_properties(props, dropped, Transform(point=(-95.8, 39.4))).unmasked == 0


# -- end to end: context, policy, masking, verification ---------------------------------------


def _sites(registries: Registries, n: int = 12) -> list[tuple[float, float]]:
    zone = registries.zones.get(ZONE).geometry
    rng = np.random.default_rng(12)
    x0, y0, x1, y1 = zone.bounds
    lon, lat = rng.uniform(x0, x1, 400), rng.uniform(y0, y1, 400)
    keep = shapely.contains_xy(zone, lon, lat)
    return list(zip(lon[keep][:n].tolist(), lat[keep][:n].tolist(), strict=True))


def _gate_geo(
    tmp_path: Path, registries: Registries, rel: str, content: str, media: str
) -> dict[str, Any]:
    return run_geo(tmp_path, registries, content=content.encode("utf-8"), rel=rel, media=media)


def _geojson_sites(sites: list[tuple[float, float]], **extra: Any) -> str:
    feats = []
    for i, (lon, lat) in enumerate(sites):
        props = {
            "feature_id": f"s{i}",
            "name": f"site {i}",
            "lon": lon,
            "lat": lat,
            "where": f"{lat:.6f}, {lon:.6f}",
            "wkt": f"POINT ({lon} {lat})",
            **extra,
        }
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        feats.append({"type": "Feature", "id": f"s{i}", "properties": props, "geometry": geometry})
    return json.dumps(feature_collection(feats))


def _exact_strings(sites: list[tuple[float, float]]) -> list[str]:
    return [f"{v:.5f}" for lon, lat in sites for v in (lon, lat)]


def test_geojson_properties_are_masked_with_the_geometry(
    tmp_path: Path, registries: Registries
) -> None:
    sites = _sites(registries)
    rel = f"data/processed/sites/sites/{AOI}/2026-11-01/run1/sites.geojson"
    r = _gate_geo(tmp_path, registries, rel, _geojson_sites(sites), "application/geo+json")
    assert r["geo"]["features_in_zones"] == len(sites)
    text = r["public"].read_text()
    assert not [s for s in _exact_strings(sites) if s in text]  # no exact position anywhere
    data = r["section"].data
    assert data["coordinate_fields"] == 4 * len(sites)
    assert data["coordinate_fields_unmasked"] == 0
    assert not [v for v in r["violations"] if v["rule"].startswith("geo.")], r["violations"]
    for feature in json.loads(text)["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert (feature["properties"]["lon"], feature["properties"]["lat"]) == (lon, lat)
    moved = distance_m(
        np.array([s[0] for s in sites]),
        np.array([s[1] for s in sites]),
        np.array([f["properties"]["lon"] for f in json.loads(text)["features"]]),
        np.array([f["properties"]["lat"] for f in json.loads(text)["features"]]),
    )
    assert (moved >= 1000 - 0.01).all()  # the sensitive tier's r_min
    assert r["report"]["coordinate_fields"] == {"masked": 4 * len(sites), "not_maskable": 0}


def test_a_property_restored_to_its_exact_value_is_found_and_denied(
    tmp_path: Path, registries: Registries
) -> None:
    sites = _sites(registries)
    rel = f"data/processed/sites/sites/{AOI}/2026-11-01/run1/sites.geojson"
    r = _gate_geo(tmp_path, registries, rel, _geojson_sites(sites), "application/geo+json")
    doc = json.loads(r["public"].read_text())
    doc["features"][0]["properties"]["lat"] = sites[0][1]  # put the exact latitude back
    write_json(r["public"], doc)
    section = GeoVerificationCollector(registries).collect(r["ctx"])
    assert section.data["coordinate_fields_unmasked"] == 1
    phase2 = {**r["phase2"], "evidence": {"geo": {"status": "ok", **section.data}}}
    violations = r["engine"].eval_query("x = data.kfm.gate.violation", phase2)[0]["x"]
    assert {v["rule"] for v in violations} == {"geo.coordinate_fields"}
    assert {v["code"] for v in violations} == {"PUBLIC_PRECISION_UNSAFE"}


def test_projected_coordinates_refuse_the_partition(tmp_path: Path, registries: Registries) -> None:
    sites = _sites(registries, n=3)
    rel = f"data/processed/sites/sites/{AOI}/2026-11-01/run1/sites.geojson"
    content = _geojson_sites(sites, x=512345.6, y=1734567.8)
    r = _gate_geo(tmp_path, registries, rel, content, "application/geo+json")
    assert r["section"].data["coordinate_fields_unmasked"] == 2 * len(sites)
    assert "geo.coordinate_fields" in {v["rule"] for v in r["violations"]}


def _csv_sites(sites: list[tuple[float, float]], *, with_id: bool = True) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(["site_id"] if with_id else []), "name", "longitude", "latitude", "where"])
    for i, (lon, lat) in enumerate(sites):
        row = [f"{lon:.6f}", f"{lat:.6f}", f"{lat:.6f}, {lon:.6f}"]
        writer.writerow([*([f"s{i}"] if with_id else []), f"site {i}", *row])
    return buffer.getvalue()


def test_csv_rows_in_a_zone_are_masked_and_verified(tmp_path: Path, registries: Registries) -> None:
    """A CSV-only partition skipped every geo check on 584f44a: its rows were not features."""
    sites = _sites(registries)
    rel = f"data/processed/sites/sites/{AOI}/2026-11-01/run1/sites.csv"
    r = _gate_geo(tmp_path, registries, rel, _csv_sites(sites), "text/csv")
    assert r["geo"]["features_in_zones"] == len(sites)
    assert r["ctx"].obligations
    text = r["public"].read_text()
    assert not [s for s in _exact_strings(sites) if s in text]
    data = r["section"].data
    assert data["features_total"] == len(sites) and data["unchanged_in_zones"] == 0
    assert data["coordinate_fields"] == 3 * len(sites)
    assert data["coordinate_fields_unmasked"] == 0
    assert data["moved_less_than_r_min"] == 0
    assert not [v for v in r["violations"] if v["rule"].startswith("geo.")], r["violations"]
    table = read_csv_points(r["public"], "public")
    assert table.header == ("site_id", "name", "longitude", "latitude", "where")


def test_csv_with_coordinates_but_no_stable_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(_csv_sites([(-95.8, 39.3)], with_id=False), encoding="utf-8")
    with pytest.raises(InputError, match="no stable id column"):
        read_csv_points(path, "t.csv").positions("t.csv")


def test_the_quality_table_reads_the_geometry_not_the_property(tmp_path: Path) -> None:
    from kfm_gate.evidence.tables import TableLimits, load_table

    doc = feature_collection(
        [
            {
                "type": "Feature",
                "id": "a",
                "properties": {"lon": -95.0, "lat": 39.0},
                "geometry": {"type": "Point", "coordinates": [-96.5, 38.5]},
            }
        ]
    )
    path = write_json(tmp_path / "a.geojson", doc)
    frame = load_table(path, "application/geo+json", TableLimits(), point_columns=True)
    assert (frame.loc[0, "lon"], frame.loc[0, "lat"]) == (-96.5, 38.5)
