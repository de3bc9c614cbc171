"""Benchmark: 1,000,000 points through zone join, masking and verification.

Vectorized kfm_gate.geo (grid snapping; keyed donut with AOI containment) against a
per-feature Python loop doing the same work (same transforms, same key derivation, same
containment and verification), run side by side in this process. The loop runs on a sample
and its rate is compared with the vectorized rate on the full set.

Run: .venv/bin/python benchmarks/bench_geo.py [--points 1000000] [--loop-points 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from kfm_gate.geo.features import FeatureSet
from kfm_gate.geo.keys import MaskKey
from kfm_gate.geo.masking import mask_features, parse_specs, zone_pairs_for
from kfm_gate.geo.registry import load_registries
from kfm_gate.geo.verification import verify_features
from kfm_gate.models import Obligation

ROOT = Path(__file__).resolve().parents[1]
AOI = "ks-county-20085"  # Jackson County, holds a (schematic) sovereignty zone
KEY = MaskKey(b"benchmark-only-key-not-a-secret-0123456789", source="env")
GRID = {"method": "grid", "cell_m": 10000}
DONUT = {"method": "donut", "r_min_m": 1000, "r_max_m": 3000, "epoch": 1}


def points_in(aoi: shapely.Geometry, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = aoi.bounds
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(x0, x1, n * 2), rng.uniform(y0, y1, n * 2)
    inside = shapely.contains_xy(aoi, lon, lat)
    return lon[inside][:n], lat[inside][:n]


def vectorized(fs: FeatureSet, params: dict, registries, aoi) -> float:
    specs = parse_specs([Obligation(code="GENERALIZE_GEOMETRY", kind="generalize", params=params)])
    zones = registries.zones.zones
    t0 = time.perf_counter()
    pairs = zone_pairs_for(fs, registries)
    out = mask_features(fs, specs, aoi=aoi, zone_pairs=pairs, zones=zones, key_source=lambda: KEY)
    keep = np.flatnonzero(out.kept)
    public = FeatureSet(
        ids=fs.ids[keep],
        lon=out.lon[keep],
        lat=out.lat[keep],
        is_point=np.ones(keep.size, dtype=bool),
        geoms=np.full(keep.size, None, dtype=object),
    )
    ev = verify_features(fs, public, specs, aoi=aoi, zone_pairs=pairs, zones=zones)
    elapsed = time.perf_counter() - t0
    assert ev["containment_violations"] == 0 and ev["moved_less_than_r_min"] == 0
    assert ev["unchanged_in_zones"] == 0
    return elapsed


# -- the per-feature loop baseline -------------------------------------------------------

_A, _F = 6378137.0, 1 / 298.257223563
_E2 = _F * (2 - _F)


def _radii(phi: float) -> tuple[float, float]:
    w = 1 - _E2 * math.sin(phi) ** 2
    return _A * (1 - _E2) / w**1.5, _A / math.sqrt(w)


def _dist(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    phim = math.radians((lat0 + lat1) / 2)
    m, n = _radii(phim)
    return math.hypot(math.radians(lon1 - lon0) * n * math.cos(phim), math.radians(lat1 - lat0) * m)


def loop(ids, lon, lat, params: dict, registries, aoi) -> float:
    to5070 = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
    from5070 = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True)
    zones = [z.search_geometry for z in registries.zones.zones]
    for z in zones:
        shapely.prepare(z)
    shapely.prepare(aoi)
    t0 = time.perf_counter()
    for fid, x, y in zip(ids.tolist(), lon.tolist(), lat.tolist(), strict=True):
        pt = shapely.Point(x, y)
        in_zone = any(z.intersects(pt) for z in zones)
        if params["method"] == "grid":
            c = params["cell_m"]
            px, py = to5070.transform(x, y)
            ox, oy = from5070.transform(
                (math.floor(px / c) + 0.5) * c, (math.floor(py / c) + 0.5) * c
            )
            # verification: expected centre and displacement
            qx, qy = to5070.transform(x, y)
            ex, ey = from5070.transform(
                (math.floor(qx / c) + 0.5) * c, (math.floor(qy / c) + 0.5) * c
            )
            assert _dist(ex, ey, ox, oy) <= 0.01
        else:
            r_min, r_max = params["r_min_m"], params["r_max_m"]
            for attempt in range(64):
                label = f"donut|v1|epoch=1|r_min={r_min}|r_max={r_max}|a={attempt}".encode()
                sub = hashlib.blake2b(label, key=KEY.secret, digest_size=16).digest()
                h = int.from_bytes(
                    hashlib.blake2b(fid.encode(), key=sub, digest_size=8).digest(), "little"
                )
                ua, ur = (h >> 32) / 2**32, (h & 0xFFFFFFFF) / 2**32
                r = math.sqrt(r_min**2 + ur * (r_max**2 - r_min**2))
                east, north = r * math.cos(2 * math.pi * ua), r * math.sin(2 * math.pi * ua)
                m, n = _radii(math.radians(y))
                oy = y + math.degrees(north / m)
                ox = x + math.degrees(east / (n * math.cos(math.radians((y + oy) / 2))))
                if aoi.intersects(shapely.Point(ox, oy)):
                    break
            d = _dist(x, y, ox, oy)
            assert d >= r_min - 1 and aoi.intersects(shapely.Point(ox, oy))
        unchanged = in_zone and _dist(x, y, ox, oy) < 1.0
        assert not unchanged
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--loop-points", type=int, default=20_000)
    args = parser.parse_args()
    registries = load_registries(ROOT / "data" / "aoi")
    aoi = registries.aoi.get(AOI).geometry
    lon, lat = points_in(aoi, args.points)
    ids = np.array([f"site-{i:07d}" for i in range(lon.size)], dtype=object)
    fs = FeatureSet.from_points(ids, lon, lat)
    n_loop = min(args.loop_points, lon.size)
    print(f"points: {lon.size:,} in {AOI}; zone hits: {zone_pairs_for(fs, registries)[0].size:,}")
    rates: dict[str, float] = {}
    speedups: list[float] = []
    for name, params in (("grid", GRID), ("donut", DONUT)):
        vectorized(
            FeatureSet.from_points(ids[:1000], lon[:1000], lat[:1000]), params, registries, aoi
        )
        vec = min(vectorized(fs, params, registries, aoi) for _ in range(3))
        base = loop(ids[:n_loop], lon[:n_loop], lat[:n_loop], params, registries, aoi)
        rates[name] = lon.size / vec
        loop_rate = n_loop / base
        speedups.append(rates[name] / loop_rate)
        print(
            f"{name}: vectorized {vec:.3f} s ({rates[name]:,.0f} pts/s); "
            f"loop {loop_rate:,.0f} pts/s on {n_loop:,}; ratio {rates[name] / loop_rate:.1f}x"
        )
    print(f"RESULT mask_grid_pts_per_s {rates['grid']:.0f} pts/s")
    print(f"RESULT mask_donut_pts_per_s {rates['donut']:.0f} pts/s")
    print(f"RESULT mask_speedup_vs_loop {min(speedups):.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
