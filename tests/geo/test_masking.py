from __future__ import annotations

import struct

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kfm_gate.errors import ObligationError
from kfm_gate.geo.features import FeatureSet
from kfm_gate.geo.keys import MaskKey
from kfm_gate.geo.masking import (
    assign_specs,
    distance_m,
    donut_points,
    grid_cells,
    grid_snap,
    h3_centres,
    keyed_hash64,
    mask_features,
    offset_lonlat,
    parse_specs,
    translate_geometries,
    zone_pairs_for,
)
from kfm_gate.geo.registry import Registries
from kfm_gate.models import Obligation
from tests.geo.conftest import TEST_KEY

_M = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M


def siphash24_reference(key: bytes, msg: bytes) -> int:
    """SipHash-2-4 written from the paper (Aumasson & Bernstein), for cross-checking."""
    k0, k1 = struct.unpack("<QQ", key)
    v = [
        k0 ^ 0x736F6D6570736575,
        k1 ^ 0x646F72616E646F6D,
        k0 ^ 0x6C7967656E657261,
        k1 ^ 0x7465646279746573,
    ]

    def rnd() -> None:
        v[0] = (v[0] + v[1]) & _M
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & _M
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _M
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _M
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    end = len(msg) - len(msg) % 8
    for i in range(0, end, 8):
        (m,) = struct.unpack("<Q", msg[i : i + 8])
        v[3] ^= m
        rnd()
        rnd()
        v[0] ^= m
    b = (len(msg) & 0xFF) << 56
    for i, c in enumerate(msg[end:]):
        b |= c << (8 * i)
    v[3] ^= b
    rnd()
    rnd()
    v[0] ^= b
    v[2] ^= 0xFF
    for _ in range(4):
        rnd()
    return (v[0] ^ v[1] ^ v[2] ^ v[3]) & _M


def splitmix_finalizer(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


def test_siphash_reference_matches_paper_vector() -> None:
    assert siphash24_reference(bytes(range(16)), bytes(range(15))) == 0xA129CA6149BE45E5


def test_keyed_hash_is_siphash_of_utf16_id_known_answer() -> None:
    from kfm_gate.geo.masking import _hash_key

    ids = np.array(["site-0001", "ünïcode-id", "", "x" * 41, "42"], dtype=object)
    label = "donut|v1|epoch=1|r_min=1000.0|r_max=3000.0|a=0"
    got = keyed_hash64(ids, TEST_KEY, label)
    sub = _hash_key(TEST_KEY, label).encode("utf-16-le")
    expected = [splitmix_finalizer(siphash24_reference(sub, s.encode("utf-16-le"))) for s in ids]
    assert [int(g) for g in got] == expected


def test_distance_matches_geodesic() -> None:
    from pyproj import Geod

    rng = np.random.default_rng(3)
    n = 2000
    lon, lat = rng.uniform(-102, -94.6, n), rng.uniform(37, 40, n)
    east, north = rng.uniform(-20_000, 20_000, n), rng.uniform(-20_000, 20_000, n)
    lon2, lat2 = offset_lonlat(lon, lat, east, north)
    _, _, geodesic = Geod(ellps="WGS84").inv(lon, lat, lon2, lat2)
    mine = distance_m(lon, lat, lon2, lat2)
    assert np.allclose(mine, np.hypot(east, north), atol=1e-6)
    assert np.max(np.abs(mine - geodesic) / geodesic) < 1e-5


ids_st = st.lists(st.text(min_size=1, max_size=24), min_size=1, max_size=40, unique=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ids=ids_st,
    seed=st.integers(0, 2**32 - 1),
    r_min=st.floats(1.0, 5000.0),
    extra=st.floats(0.0, 20000.0),
    epoch=st.integers(0, 10),
)
def test_donut_displacement_within_bounds(
    ids: list[str], seed: int, r_min: float, extra: float, epoch: int
) -> None:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-102, -94.6, len(ids))
    lat = rng.uniform(37, 40, len(ids))
    arr = np.array(ids, dtype=object)
    lon2, lat2, kept, _ = donut_points(
        arr, lon, lat, TEST_KEY, epoch=epoch, r_min_m=r_min, r_max_m=r_min + extra, aoi=None
    )
    assert kept.all()
    d = distance_m(lon, lat, lon2, lat2)
    assert (d >= r_min - 1e-6).all()
    assert (d <= r_min + extra + 1e-6).all()


def _douglas(registries: Registries) -> shapely.Geometry:
    return registries.aoi.get("ks-county-20045").geometry


def _random_points(registries: Registries, n: int, seed: int) -> FeatureSet:
    aoi = _douglas(registries)
    x0, y0, x1, y1 = aoi.bounds
    rng = np.random.default_rng(seed)
    lon = rng.uniform(x0, x1, n * 3)
    lat = rng.uniform(y0, y1, n * 3)
    inside = shapely.intersects_xy(aoi, lon, lat)
    lon, lat = lon[inside][:n], lat[inside][:n]
    return FeatureSet.from_points([f"feat-{seed}-{i}" for i in range(n)], lon, lat)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_donut_independent_of_order_and_other_rows(
    registries: Registries, seed: int, data: st.DataObject
) -> None:
    fs = _random_points(registries, 60, seed)
    aoi = _douglas(registries)
    kw = {"epoch": 3, "r_min_m": 3000.0, "r_max_m": 10000.0, "aoi": aoi}
    lon_all, lat_all, kept_all, _ = donut_points(fs.ids, fs.lon, fs.lat, TEST_KEY, **kw)
    order = np.array(data.draw(st.permutations(range(len(fs)))))
    subset = order[: data.draw(st.integers(1, len(fs)))]
    lon_s, lat_s, kept_s, _ = donut_points(
        fs.ids[subset], fs.lon[subset], fs.lat[subset], TEST_KEY, **kw
    )
    assert np.array_equal(lon_s, lon_all[subset], equal_nan=True)
    assert np.array_equal(lat_s, lat_all[subset], equal_nan=True)
    assert np.array_equal(kept_s, kept_all[subset])
    assert kept_all.all()
    assert shapely.intersects_xy(aoi, lon_all, lat_all).all()


def test_twenty_reruns_give_identical_coordinates(registries: Registries) -> None:
    fs = _random_points(registries, 500, 11)
    aoi = _douglas(registries)
    specs = parse_specs(
        [
            Obligation(
                code="GENERALIZE_GEOMETRY",
                kind="generalize",
                params={"method": "donut", "r_min_m": 1000, "r_max_m": 3000},
            )
        ]
    )
    pairs = zone_pairs_for(fs, registries)
    runs = []
    for _ in range(20):
        key = MaskKey(TEST_KEY.secret, source="env")  # a fresh object each run
        out = mask_features(
            fs,
            specs,
            aoi=aoi,
            zone_pairs=pairs,
            zones=registries.zones.zones,
            key_source=lambda key=key: key,
        )
        runs.append(np.stack([out.lon, out.lat]).tobytes())
    assert len(set(runs)) == 1


def test_epoch_key_and_tier_change_the_draw(registries: Registries) -> None:
    fs = _random_points(registries, 50, 5)
    base = {"r_min_m": 1000.0, "r_max_m": 3000.0, "aoi": None}
    a = donut_points(fs.ids, fs.lon, fs.lat, TEST_KEY, epoch=1, **base)
    again = donut_points(fs.ids, fs.lon, fs.lat, TEST_KEY, epoch=1, **base)
    assert np.array_equal(a[0], again[0]) and np.array_equal(a[1], again[1])
    b = donut_points(fs.ids, fs.lon, fs.lat, TEST_KEY, epoch=2, **base)
    other = MaskKey(b"another-key-0123456789-0123456789", source="env")
    c = donut_points(fs.ids, fs.lon, fs.lat, other, epoch=1, **base)
    d = donut_points(
        fs.ids, fs.lon, fs.lat, TEST_KEY, epoch=1, r_min_m=250.0, r_max_m=500.0, aoi=None
    )
    for draw in (b, c, d):
        assert (distance_m(a[0], a[1], draw[0], draw[1]) > 1.0).all()


def test_keyed_method_without_key_fails_closed(registries: Registries) -> None:
    fs = _random_points(registries, 5, 1)
    specs = parse_specs(
        [
            Obligation(
                code="GENERALIZE_GEOMETRY",
                kind="generalize",
                params={"method": "donut", "r_min_m": 1000, "r_max_m": 3000},
            )
        ]
    )
    with pytest.raises(ObligationError, match="fail closed"):
        mask_features(
            fs,
            specs,
            aoi=None,
            zone_pairs=zone_pairs_for(fs, registries),
            zones=registries.zones.zones,
            key_source=None,
        )


def test_grid_snaps_to_cell_centres_and_nests() -> None:
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(-102, -94.6, 5000), rng.uniform(37, 40, 5000)
    from pyproj import Transformer

    to = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
    glon, glat = grid_snap(lon, lat, 1000.0)
    x, y = to.transform(glon, glat)
    for v in (np.asarray(x), np.asarray(y)):
        k = (v - 500.0) / 1000.0
        assert np.abs(k - np.round(k)).max() < 1e-7
    # a 1 km cell nests in its 5 km cell: the coarse cell of the fine centre is the point's
    for coarse in (5000.0, 10000.0):
        assert np.array_equal(
            np.stack(grid_cells(glon, glat, coarse)), np.stack(grid_cells(lon, lat, coarse))
        )


def test_h3_resolutions_nest() -> None:
    import h3

    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(-102, -94.6, 300), rng.uniform(37, 40, 300)
    _, _, fine = h3_centres(lon, lat, 7)
    _, _, coarse = h3_centres(lon, lat, 5)
    assert [h3.cell_to_parent(c, 5) for c in fine] == coarse
    assert all(h3.get_resolution(c) == 5 for c in coarse)


def test_k_anonymity_suppresses_small_cells(registries: Registries) -> None:
    fs = _random_points(registries, 400, 9)
    specs = parse_specs(
        [
            Obligation(
                code="SUPPRESS_SMALL_CELLS",
                kind="suppress",
                params={"method": "k_anonymity", "k": 5, "cell_m": 2000},
            )
        ]
    )
    out = mask_features(
        fs, specs, aoi=None, zone_pairs=zone_pairs_for(fs, registries), zones=registries.zones.zones
    )
    assert 0 < (~out.kept).sum() < len(fs)
    ix, iy = grid_cells(out.lon[out.kept], out.lat[out.kept], 2000.0)
    _, counts = np.unique(np.stack([ix, iy]), axis=1, return_counts=True)
    assert counts.min() >= 5


def test_strictest_obligation_wins_per_feature(registries: Registries) -> None:
    zone = registries.zones.get("zone-demo-site-a")
    c = zone.geometry.centroid
    fs = FeatureSet.from_points(["in-zone", "outside"], [c.x, -95.25], [c.y, 38.95])
    obligations = [
        Obligation(
            code="GENERALIZE_GEOMETRY",
            kind="generalize",
            params={"method": "donut", "r_min_m": 250, "r_max_m": 500},
        ),
        Obligation(
            code="GENERALIZE_GEOMETRY",
            kind="generalize",
            params={
                "method": "donut",
                "r_min_m": 3000,
                "r_max_m": 10000,
                "zones": ["zone-demo-site-a"],
            },
        ),
    ]
    specs = parse_specs(obligations)
    chosen = assign_specs(specs, 2, zone_pairs_for(fs, registries), registries.zones.zones)
    assert specs[chosen[0]].r_min_m == 3000
    assert specs[chosen[1]].r_min_m == 250


def test_lines_and_polygons(registries: Registries) -> None:
    line = shapely.LineString([(-95.30, 38.90), (-95.28, 38.91)])
    poly = shapely.Polygon([(-95.30, 38.90), (-95.29, 38.90), (-95.29, 38.91)])
    geoms = np.array([line, poly], dtype=object)
    reps = shapely.point_on_surface(geoms)
    fs = FeatureSet(
        ids=np.array(["l", "p"], dtype=object),
        lon=shapely.get_x(reps),
        lat=shapely.get_y(reps),
        is_point=np.zeros(2, dtype=bool),
        geoms=geoms,
    )
    aoi = _douglas(registries)
    for params, point_out in (
        ({"method": "donut", "r_min_m": 1000, "r_max_m": 3000}, False),
        ({"method": "grid", "cell_m": 5000}, True),
        ({"method": "centroid"}, True),
    ):
        specs = parse_specs(
            [Obligation(code="GENERALIZE_GEOMETRY", kind="generalize", params=params)]
        )
        out = mask_features(
            fs,
            specs,
            aoi=aoi,
            zone_pairs=zone_pairs_for(fs, registries),
            zones=registries.zones.zones,
            key_source=lambda: TEST_KEY,
        )
        assert out.kept.all()
        assert out.as_point.all() == point_out
        if not point_out:
            moved = translate_geometries(geoms, out.lon - fs.lon, out.lat - fs.lat)
            for before, after, dx in zip(geoms, moved, out.lon - fs.lon, strict=True):
                assert np.allclose(
                    shapely.get_coordinates(after) - shapely.get_coordinates(before),
                    [dx, (shapely.get_coordinates(after) - shapely.get_coordinates(before))[0, 1]],
                )
            d = distance_m(fs.lon, fs.lat, out.lon, out.lat)
            assert ((d >= 1000 - 1e-6) & (d <= 3000 + 1e-6)).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "teleport"}, "not a geometry method"),
        ({"method": "donut", "r_min_m": 3000, "r_max_m": 1000}, "r_min_m <= r_max_m"),
        ({"method": "donut", "r_min_m": 10, "r_max_m": "far"}, "finite number"),
        ({"method": "grid", "cell_m": 0.5}, "whole metres"),
        ({"method": "h3", "resolution": 16}, r"\[0, 15\]"),
        ({"method": "k_anonymity", "k": 1, "cell_m": 1000}, "k must be >= 2"),
        (
            {"method": "grid", "cell_m": 3000, "nest_within": {"method": "grid", "cell_m": 2000}},
            "does not nest",
        ),
        (
            {"method": "h3", "resolution": 7, "nest_within": {"method": "h3", "resolution": 5}},
            "may only coarsen",
        ),
    ],
)
def test_bad_obligation_params_fail_closed(params: dict, message: str) -> None:
    with pytest.raises(ObligationError, match=message):
        parse_specs([Obligation(code="GENERALIZE_GEOMETRY", kind="generalize", params=params)])


def test_nesting_accepts_multiples() -> None:
    specs = parse_specs(
        [
            Obligation(
                code="GENERALIZE_GEOMETRY",
                kind="generalize",
                params={
                    "method": "grid",
                    "cell_m": 10000,
                    "nest_within": {"method": "grid", "cell_m": 2000},
                },
            )
        ]
    )
    assert specs[0].cell_m == 10000
