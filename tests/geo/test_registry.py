from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kfm_gate.errors import InputError, PartitionKeyError
from kfm_gate.geo.build_registry import build
from kfm_gate.geo.registry import Registries, load_aoi_registry, load_registries

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def test_shipped_registries_load(registries: Registries) -> None:
    counties = [e for e in registries.aoi.entries.values() if e.aoi.kind == "county"]
    assert len(counties) == 105
    assert all(e.aoi_id == f"ks-county-{e.aoi_id[-5:]}" for e in counties)
    assert registries.aoi.get("ks-county-20045").aoi.name == "Douglas"
    assert any(e.aoi.kind == "project" and e.demo for e in registries.aoi.entries.values())
    zones = registries.zones.zones
    assert len(zones) == 10
    tribal = [z for z in zones if z.kind == "tribal_area"]
    assert len(tribal) == 7 and all(z.schematic for z in tribal)
    assert all(z.demo for z in zones if z.kind == "sensitive_site")
    for z in zones:
        assert z.authority
        assert z.masking_tier in ("public", "community", "sensitive", "sacred")
        assert z.search_geometry.area > z.geometry.area  # buffered


def test_self_intersecting_zone_repaired_with_warning(registries: Registries) -> None:
    warnings = [w for w in registries.warnings if w.code == "GEOMETRY_REPAIRED"]
    assert [w.item_id for w in warnings] == ["zone-aiannh-201590r"]
    assert "[" not in warnings[0].message  # no coordinate in the message
    assert registries.zones.get("zone-aiannh-201590r").geometry.is_valid


def test_refuse_mode_rejects_invalid_geometry() -> None:
    with pytest.raises(InputError, match=r"zone-aiannh-201590r.*Self-intersection"):
        load_registries(REPO / "data" / "aoi", invalid_geometry="refuse")


def test_unknown_aoi_refused(registries: Registries) -> None:
    with pytest.raises(PartitionKeyError, match="ks-county-99999"):
        registries.aoi.get("ks-county-99999")


def _aoi_doc() -> dict:
    return json.loads((REPO / "data" / "aoi" / "aoi_registry.geojson").read_text())


def test_duplicate_ids_refused(tmp_path: Path) -> None:
    doc = _aoi_doc()
    doc["features"].append(doc["features"][0])
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="appears twice"):
        load_aoi_registry(path)


@pytest.mark.parametrize("crs", [None, "EPSG:3857"])
def test_undeclared_or_other_crs_refused(tmp_path: Path, crs: str | None) -> None:
    doc = _aoi_doc()
    doc["kfm:registry"]["crs"] = crs
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="CRS"):
        load_aoi_registry(path)


def test_unknown_local_contexts_label_refused(tmp_path: Path) -> None:
    folder = tmp_path / "aoi"
    shutil.copytree(REPO / "data" / "aoi", folder)  # the shipped registries, no shared/ needed
    path = folder / "zone_registry.geojson"
    doc = json.loads(path.read_text())
    doc["features"][0]["properties"]["tk_labels"] = ["tk-not-a-label"]
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="unknown Local Contexts tk_labels"):
        load_registries(folder)


def test_build_is_deterministic_and_matches_shipped(tmp_path: Path) -> None:
    if not SHARED.exists():
        pytest.skip("shared reference data not present")
    build(SHARED, tmp_path / "a")
    build(SHARED, tmp_path / "b")
    for name in ("aoi_registry.geojson", "zone_registry.geojson", "localcontexts_vocab.json"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes()
        assert a == (REPO / "data" / "aoi" / name).read_bytes()


def test_point_join_matches_shapely(registries: Registries) -> None:
    import numpy as np
    import shapely

    rng = np.random.default_rng(7)
    lon = rng.uniform(-96.2, -95.2, 20_000)
    lat = rng.uniform(39.1, 40.1, 20_000)
    f, z = registries.zones.join_points(lon, lat)
    expected = set()
    for zi, zone in enumerate(registries.zones.zones):
        hit = np.flatnonzero(shapely.intersects_xy(zone.search_geometry, lon, lat))
        expected |= {(int(i), zi) for i in hit}
    assert set(zip(f.tolist(), z.tolist(), strict=True)) == expected
    assert expected  # the sample does touch zones
