"""Masking and generalization of geometry: the methods, their parameters, and the engine.

Methods (``params.method`` of a ``generalize`` or ``suppress`` obligation):

``suppress``     the feature is not published.
``centroid``     every feature becomes the AOI's centroid (its point on surface when the
                 centroid falls outside the AOI).
``grid``         the feature becomes the centre of its ``cell_m`` cell of a grid with a fixed
                 origin (0, 0) in EPSG:5070 metres. Cell sizes that divide each other nest.
``h3``           the feature becomes the centre of its H3 cell at ``resolution``, taken as the
                 parent of its resolution-15 cell so that every resolution nests in coarser ones.
``donut``        keyed displacement by a distance in [``r_min_m``, ``r_max_m``] (uniform over the
                 annulus' area) in a keyed direction; a draw whose result leaves the AOI is
                 rejected and the next keyed draw tried (``max_attempts``), after which the
                 feature is suppressed. Lines and polygons are translated rigidly.
``k_anonymity``  ``grid`` with ``cell_m``, then every cell holding fewer than ``k`` of the
                 obligation's features is suppressed.

Generalizing methods publish a Point for every geometry type (the representative point of a
line or polygon is generalized). Distances are metres on the WGS84 ellipsoid with the
mid-latitude formula (within centimetres of the geodesic up to 20 km).

**Determinism that resists averaging.** A donut draw is a PRF of the feature's stable id under a
sub-key derived from the masking key, the mask epoch, the method's parameters and the attempt
number: SipHash-2-4 (128-bit sub-key, UTF-16-LE bytes of the id, SplitMix64 finalizer) computed
vectorized by ``pandas.util.hash_array`` and checked against a pure-Python reference in the
tests. Nothing else enters it: not the run id, the time, the row order, the partition or the
other rows. Re-running never draws again; changing the epoch is an explicit, recorded act.

**Which obligation applies to a feature.** An obligation applies to every feature, or only to
the features touching the zones listed in ``params.zones``. When several apply, the strictest
wins: suppress, then centroid, then the largest nominal scale (donut ``r_min_m``, half a grid
cell, an H3 edge length). :func:`assign_specs` is shared by the engine and the verification.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from kfm_gate.context import GateContext
from kfm_gate.errors import InputError, ObligationError
from kfm_gate.geo.coordinates import (
    Masked,
    Transform,
    is_csv,
    mask_properties,
    read_csv_points,
)
from kfm_gate.geo.features import FeatureSet, is_geojson, read_feature_collection
from kfm_gate.geo.keys import MaskKey, load_mask_key
from kfm_gate.geo.registry import Registries, Zone
from kfm_gate.ids import canonical_json, sha256_bytes
from kfm_gate.models import Obligation

METHODS: tuple[str, ...] = ("suppress", "centroid", "grid", "h3", "donut", "k_anonymity")
KEYED_METHODS = frozenset({"donut"})
#: names written in ``kfm:privacy_method`` of a published feature
METHOD_LABELS: dict[str, str] = {
    "suppress": "suppressed",
    "centroid": "aoi_centroid_v1",
    "grid": "grid_epsg5070_v1",
    "h3": "h3_v1",
    "donut": "donut_geomask_v1",
    "k_anonymity": "k_anonymity_grid_v1",
}
#: floating-point slack of every distance check, in metres
DISTANCE_TOLERANCE_M = 0.01
DEFAULT_MAX_ATTEMPTS = 64
DEFAULT_EPOCH = 1
H3_BASE_RESOLUTION = 15
MAX_DISTANCE_M = 100_000.0

_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)
_TO_5070 = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
_FROM_5070 = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_CELL_OFFSET = 2**31


# -- metres on the ellipsoid -----------------------------------------------------------------


def _radii(phi: FloatArray) -> tuple[FloatArray, FloatArray]:
    s2 = np.sin(phi) ** 2
    w = 1.0 - _WGS84_E2 * s2
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / (w * np.sqrt(w))
    normal = _WGS84_A / np.sqrt(w)
    return meridian, normal


def offset_lonlat(
    lon: FloatArray, lat: FloatArray, east_m: FloatArray, north_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Move points by (east, north) metres; inverse of :func:`distance_components_m`."""
    phi0 = np.radians(lat)
    phim = phi0
    for _ in range(4):  # fixed point on the mid latitude; converges to 1e-15 in 3 steps
        meridian, _normal = _radii(phim)
        phim = phi0 + 0.5 * north_m / meridian
    meridian, normal = _radii(phim)
    dphi = north_m / meridian
    dlam = east_m / (normal * np.cos(phim))
    return lon + np.degrees(dlam), lat + np.degrees(dphi)


def distance_components_m(
    lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(east, north) metres from point 0 to point 1 (mid-latitude formula)."""
    phim = np.radians(0.5 * (lat0 + lat1))
    meridian, normal = _radii(phim)
    dlon = (lon1 - lon0 + 180.0) % 360.0 - 180.0
    return np.radians(dlon) * normal * np.cos(phim), np.radians(lat1 - lat0) * meridian


def distance_m(
    lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray
) -> FloatArray:
    """Distance in metres between paired points (within centimetres of the geodesic to 20 km)."""
    east, north = distance_components_m(lon0, lat0, lon1, lat1)
    return np.asarray(np.hypot(east, north), dtype=np.float64)


# -- keyed draws -------------------------------------------------------------------------------


def _hash_key(key: MaskKey, label: str) -> str:
    """A 128-bit SipHash key as the 8-character string pandas wants (UTF-16-LE)."""
    for n in range(1000):
        raw = key.subkey(f"{label}|n={n}" if n else label, 16)
        try:
            return raw.decode("utf-16-le")  # fails only on a lone surrogate code unit
        except UnicodeDecodeError:
            continue
    raise ObligationError(f"cannot derive a SipHash key for {label!r}")  # pragma: no cover


def keyed_hash64(ids: NDArray[np.object_], key: MaskKey, label: str) -> NDArray[np.uint64]:
    """``mix64(SipHash-2-4(subkey(label), utf16le(id)))`` for every id, vectorized."""
    import pandas as pd

    if ids.shape[0] == 0:
        return np.empty(0, dtype=np.uint64)
    try:
        out = pd.util.hash_array(
            ids, encoding="utf-16-le", hash_key=_hash_key(key, label), categorize=False
        )
    except UnicodeEncodeError as err:
        raise InputError(
            f"a stable feature id is not valid Unicode ({err.reason}); ids must be text"
        ) from err
    return np.asarray(out, dtype=np.uint64)


def donut_label(epoch: int, r_min_m: float, r_max_m: float, attempt: int) -> str:
    """What a donut draw depends on besides the key and the id (never run, time, order)."""
    return f"donut|v1|epoch={epoch}|r_min={float(r_min_m)!r}|r_max={float(r_max_m)!r}|a={attempt}"


def donut_offsets(
    ids: NDArray[np.object_],
    key: MaskKey,
    epoch: int,
    r_min_m: float,
    r_max_m: float,
    attempt: int,
) -> tuple[FloatArray, FloatArray]:
    """(east, north) metres of each feature's draw number ``attempt``."""
    h = keyed_hash64(ids, key, donut_label(epoch, r_min_m, r_max_m, attempt))
    u_angle = (h >> np.uint64(32)).astype(np.float64) * (1.0 / 2**32)
    u_radius = (h & np.uint64(0xFFFFFFFF)).astype(np.float64) * (1.0 / 2**32)
    r = np.sqrt(r_min_m**2 + u_radius * (r_max_m**2 - r_min_m**2))
    theta = 2.0 * np.pi * u_angle
    return r * np.cos(theta), r * np.sin(theta)


def donut_points(
    ids: NDArray[np.object_],
    lon: FloatArray,
    lat: FloatArray,
    key: MaskKey,
    *,
    epoch: int,
    r_min_m: float,
    r_max_m: float,
    aoi: BaseGeometry | None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], int]:
    """Displaced (lon, lat), kept mask and number of rejected draws; vectorized per attempt.

    A draw is rejected when it leaves ``aoi``; the feature's next keyed draw is tried. After
    ``max_attempts`` the feature is not kept (suppressed).
    """
    n = ids.shape[0]
    out_lon = np.full(n, np.nan)
    out_lat = np.full(n, np.nan)
    kept = np.zeros(n, dtype=bool)
    todo = np.arange(n)
    rejected = 0
    for attempt in range(max_attempts):
        if todo.size == 0:
            break
        east, north = donut_offsets(ids[todo], key, epoch, r_min_m, r_max_m, attempt)
        lon2, lat2 = offset_lonlat(lon[todo], lat[todo], east, north)
        ok = (
            np.ones(todo.size, dtype=bool)
            if aoi is None
            else shapely.intersects_xy(aoi, lon2, lat2)
        )
        done = todo[ok]
        out_lon[done], out_lat[done] = lon2[ok], lat2[ok]
        kept[done] = True
        rejected += int((~ok).sum())
        todo = todo[~ok]
    return out_lon, out_lat, kept, rejected


# -- grids ---------------------------------------------------------------------------------


def grid_cells(lon: FloatArray, lat: FloatArray, cell_m: float) -> tuple[IntArray, IntArray]:
    """Cell indices (ix, iy) of points on the fixed-origin EPSG:5070 grid of ``cell_m``."""
    x, y = _TO_5070.transform(lon, lat)
    return (
        np.floor(np.asarray(x) / cell_m).astype(np.int64),
        np.floor(np.asarray(y) / cell_m).astype(np.int64),
    )


def grid_centres(ix: IntArray, iy: IntArray, cell_m: float) -> tuple[FloatArray, FloatArray]:
    """(lon, lat) of cell centres; each distinct cell is projected once."""
    if ix.size == 0:
        return np.empty(0), np.empty(0)
    uniq, inverse = np.unique(cell_codes(ix, iy), return_inverse=True)
    ux = (uniq >> np.uint64(32)).astype(np.int64) - _CELL_OFFSET
    uy = (uniq & np.uint64(0xFFFFFFFF)).astype(np.int64) - _CELL_OFFSET
    ulon, ulat = _FROM_5070.transform((ux + 0.5) * cell_m, (uy + 0.5) * cell_m)
    inverse = inverse.reshape(-1)
    return np.asarray(ulon)[inverse], np.asarray(ulat)[inverse]


def cell_codes(ix: IntArray, iy: IntArray) -> NDArray[np.uint64]:
    """One unsigned 64-bit code per cell (|index| < 2**31), for fast grouping."""
    return ((ix + _CELL_OFFSET).astype(np.uint64) << np.uint64(32)) | (iy + _CELL_OFFSET).astype(
        np.uint64
    )


def grid_snap(lon: FloatArray, lat: FloatArray, cell_m: float) -> tuple[FloatArray, FloatArray]:
    """Points moved to the centre of their grid cell."""
    ix, iy = grid_cells(lon, lat, cell_m)
    return grid_centres(ix, iy, cell_m)


def grid_nests(finer_m: float, coarser_m: float) -> bool:
    """Whether every cell of ``coarser_m`` is a union of cells of ``finer_m`` (same origin)."""
    ratio = coarser_m / finer_m
    return coarser_m >= finer_m and abs(ratio - round(ratio)) < 1e-9


def h3_centres(
    lon: FloatArray, lat: FloatArray, resolution: int
) -> tuple[FloatArray, FloatArray, list[str]]:
    """Centres of each point's H3 cell at ``resolution`` (parent of its resolution-15 cell).

    h3-py offers a scalar API only: this is a loop over features (documented, not a hot path).
    """
    import h3

    out_lon = np.empty(lon.shape[0])
    out_lat = np.empty(lon.shape[0])
    cells: list[str] = []
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        cell = h3.cell_to_parent(h3.latlng_to_cell(y, x, H3_BASE_RESOLUTION), resolution)
        cy, cx = h3.cell_to_latlng(cell)
        out_lon[i], out_lat[i] = cx, cy
        cells.append(cell)
    return out_lon, out_lat, cells


def aoi_anchor(aoi: BaseGeometry) -> tuple[float, float]:
    """The AOI's centroid, or its point on surface when the centroid lies outside it."""
    c = aoi.centroid
    if not aoi.intersects(c):
        c = aoi.point_on_surface()
    return float(c.x), float(c.y)


# -- obligations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskSpec:
    """One geometry obligation, parsed and checked."""

    code: str
    kind: str
    method: str
    params: Mapping[str, Any]
    zones: tuple[str, ...] | None
    epoch: int = DEFAULT_EPOCH
    r_min_m: float = 0.0
    r_max_m: float = 0.0
    cell_m: float = 0.0
    resolution: int = 0
    k: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @property
    def key(self) -> str:
        """Stable name of this obligation in evidence: ``<code>@<params digest prefix>``."""
        return f"{self.code}@{sha256_bytes(canonical_json(dict(self.params)))[7:19]}"

    @property
    def scale_m(self) -> float:
        if self.method == "donut":
            return self.r_min_m
        if self.method in ("grid", "k_anonymity"):
            return self.cell_m / 2
        if self.method == "h3":
            import h3

            return float(h3.average_hexagon_edge_length(self.resolution, unit="m"))
        return math.inf

    @property
    def rank(self) -> tuple[int, float, int, str]:
        level = {"suppress": 3, "centroid": 2}.get(self.method, 1)
        return (level, self.scale_m, METHODS.index(self.method), self.key)

    def describe(self) -> dict[str, Any]:
        """What evidence and reports say about this obligation (no secret, no coordinate)."""
        return {
            "code": self.code,
            "kind": self.kind,
            "method": self.method,
            "params": dict(self.params),
        }


def _number(params: Mapping[str, Any], name: str, where: str) -> float:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ObligationError(f"{where}: params.{name} must be a finite number, got {value!r}")
    return float(value)


def _integer(params: Mapping[str, Any], name: str, where: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ObligationError(f"{where}: params.{name} must be an integer, got {value!r}")
    return value


def parse_spec(obligation: Obligation) -> MaskSpec | None:
    """The geometry obligation in ``obligation``, or ``None`` when it is not one.

    A ``generalize`` or ``suppress`` obligation with an unknown ``method``, or with bad
    parameters, raises :class:`ObligationError` (fail closed).
    """
    if obligation.kind not in ("generalize", "suppress"):
        return None
    p = dict(obligation.params)
    where = f"obligation {obligation.code} ({obligation.rule or 'no rule'})"
    method = p.get("method")
    if method is None and obligation.kind == "suppress":
        method = "k_anonymity" if "k" in p else "suppress"
    if method not in METHODS:
        raise ObligationError(
            f"{where}: params.method {method!r} is not a geometry method "
            f"({', '.join(METHODS)}); fix the policy's obligation"
        )
    zones = p.get("zones")
    if zones is not None and (
        not isinstance(zones, list) or not all(isinstance(z, str) for z in zones)
    ):
        raise ObligationError(f"{where}: params.zones must be a list of zone ids")
    epoch = _integer(p, "epoch", where, DEFAULT_EPOCH)
    if epoch < 0:
        raise ObligationError(f"{where}: params.epoch must be >= 0, got {epoch}")
    fields: dict[str, Any] = {}
    if method == "donut":
        r_min, r_max = _number(p, "r_min_m", where), _number(p, "r_max_m", where)
        if not 0 < r_min <= r_max <= MAX_DISTANCE_M:
            raise ObligationError(
                f"{where}: donut needs 0 < r_min_m <= r_max_m <= {MAX_DISTANCE_M:.0f}, got "
                f"{r_min} and {r_max}"
            )
        attempts = _integer(p, "max_attempts", where, DEFAULT_MAX_ATTEMPTS)
        if not 1 <= attempts <= 1000:
            raise ObligationError(f"{where}: params.max_attempts must be in [1, 1000]")
        fields.update(r_min_m=r_min, r_max_m=r_max, max_attempts=attempts)
    if method in ("grid", "k_anonymity"):
        cell = _number(p, "cell_m", where)
        if not 1 <= cell <= MAX_DISTANCE_M or cell != round(cell):
            raise ObligationError(
                f"{where}: params.cell_m must be whole metres in [1, {MAX_DISTANCE_M:.0f}], "
                f"got {cell}"
            )
        fields["cell_m"] = cell
    if method == "k_anonymity":
        k = _integer(p, "k", where)
        if k < 2:
            raise ObligationError(f"{where}: params.k must be >= 2, got {k}")
        fields["k"] = k
    if method == "h3":
        res = _integer(p, "resolution", where)
        if not 0 <= res <= H3_BASE_RESOLUTION:
            raise ObligationError(f"{where}: params.resolution must be in [0, 15], got {res}")
        fields["resolution"] = res
    spec = MaskSpec(
        code=obligation.code,
        kind=obligation.kind,
        method=method,
        params=p,
        zones=tuple(sorted(set(zones))) if zones is not None else None,
        epoch=epoch,
        **fields,
    )
    check_nesting(spec, where)
    return spec


def check_nesting(spec: MaskSpec, where: str = "obligation") -> None:
    """Refuse a grid or H3 tier that does not nest in the previously published one.

    ``params.nest_within`` describes the previous release, e.g. ``{"method": "grid",
    "cell_m": 5000}`` or ``{"method": "h3", "resolution": 7}``: a new, stricter release must
    publish cells that contain the previous cells, or two releases intersect to a finer cell.
    """
    prev = spec.params.get("nest_within")
    if prev is None:
        return
    if not isinstance(prev, dict) or prev.get("method") != spec.method:
        raise ObligationError(
            f"{where}: nest_within {prev!r} must name the same method ({spec.method}) as the "
            "previously published release"
        )
    if spec.method in ("grid", "k_anonymity"):
        prev_cell = _number(prev, "cell_m", where)
        if not grid_nests(prev_cell, spec.cell_m):
            raise ObligationError(
                f"{where}: grid cell {spec.cell_m:.0f} m does not nest in the published "
                f"{prev_cell:.0f} m cells; use a multiple of {prev_cell:.0f} m"
            )
    elif spec.method == "h3":
        prev_res = _integer(prev, "resolution", where)
        if spec.resolution > prev_res:
            raise ObligationError(
                f"{where}: H3 resolution {spec.resolution} is finer than the published "
                f"{prev_res}; a later release may only coarsen"
            )
    else:
        raise ObligationError(f"{where}: nest_within applies to grid and h3 only")


def parse_specs(obligations: Sequence[Obligation]) -> tuple[MaskSpec, ...]:
    """Every geometry obligation, in a stable order."""
    specs = [s for s in (parse_spec(o) for o in obligations) if s is not None]
    return tuple(sorted(specs, key=lambda s: s.rank))


def assign_specs(
    specs: Sequence[MaskSpec],
    n: int,
    zone_pairs: tuple[NDArray[np.intp], NDArray[np.intp]],
    zones: Sequence[Zone],
) -> NDArray[np.intp]:
    """For each feature, the index of the strictest spec that applies, or -1."""
    chosen = np.full(n, -1, dtype=np.intp)
    feat_idx, zone_idx = zone_pairs
    order = sorted(range(len(specs)), key=lambda i: specs[i].rank)
    for i in order:
        scope = specs[i].zones
        if scope is None:
            chosen[:] = i
            continue
        wanted = np.array([j for j, z in enumerate(zones) if z.zone_id in scope], dtype=np.intp)
        chosen[feat_idx[np.isin(zone_idx, wanted)]] = i
    return chosen


def zone_pairs_for(
    fs: FeatureSet, registries: Registries
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(feature, zone) pairs: points by coordinates, other geometries by shape."""
    zones = registries.zones
    pf, pz = zones.join_points(fs.lon, fs.lat)
    if fs.is_point.all():
        return pf, pz
    keep = fs.is_point[pf]
    pf, pz = pf[keep], pz[keep]
    other = np.flatnonzero(~fs.is_point)
    gi, gz = zones.join_geometries(fs.geoms[other])
    f = np.concatenate([pf, other[gi]])
    z = np.concatenate([pz, gz])
    order = np.lexsort((z, f))
    return f[order], z[order]


# -- applying ------------------------------------------------------------------------------


@dataclass
class MaskOutcome:
    """The public geometry of every feature of one set."""

    lon: FloatArray  # published point or reference point (NaN when suppressed)
    lat: FloatArray
    kept: NDArray[np.bool_]
    as_point: NDArray[np.bool_]  # published as a Point at (lon, lat)
    offset: NDArray[np.bool_]  # non-point translated by (lon - ref lon, lat - ref lat)
    chosen: NDArray[np.intp]
    specs: tuple[MaskSpec, ...]
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)


def mask_features(
    fs: FeatureSet,
    specs: Sequence[MaskSpec],
    *,
    aoi: BaseGeometry | None,
    zone_pairs: tuple[NDArray[np.intp], NDArray[np.intp]],
    zones: Sequence[Zone],
    key_source: Callable[[], MaskKey] | None = None,
) -> MaskOutcome:
    """Apply the strictest applicable spec to every feature (vectorized per method)."""
    n = len(fs)
    specs = tuple(specs)
    chosen = assign_specs(specs, n, zone_pairs, zones)
    out = MaskOutcome(
        lon=fs.lon.copy(),
        lat=fs.lat.copy(),
        kept=np.ones(n, dtype=bool),
        as_point=np.zeros(n, dtype=bool),
        offset=np.zeros(n, dtype=bool),
        chosen=chosen,
        specs=specs,
    )
    key: MaskKey | None = None
    for i, spec in enumerate(specs):
        idx = np.flatnonzero(chosen == i)
        stats: dict[str, Any] = {**spec.describe(), "features": int(idx.size), "suppressed": 0}
        out.stats[spec.key] = stats
        if idx.size == 0:
            continue
        lon, lat = fs.lon[idx], fs.lat[idx]
        if spec.method == "suppress":
            out.kept[idx] = False
        elif spec.method == "centroid":
            if aoi is None:
                raise ObligationError(f"obligation {spec.code}: centroid needs the partition's AOI")
            cx, cy = aoi_anchor(aoi)
            out.lon[idx], out.lat[idx] = cx, cy
            out.as_point[idx] = True
        elif spec.method == "grid":
            out.lon[idx], out.lat[idx] = grid_snap(lon, lat, spec.cell_m)
            out.as_point[idx] = True
        elif spec.method == "k_anonymity":
            ix, iy = grid_cells(lon, lat, spec.cell_m)
            _, inverse, counts = np.unique(
                cell_codes(ix, iy), return_inverse=True, return_counts=True
            )
            small = counts[inverse.reshape(-1)] < spec.k
            out.lon[idx], out.lat[idx] = grid_centres(ix, iy, spec.cell_m)
            out.as_point[idx] = True
            out.kept[idx[small]] = False
        elif spec.method == "h3":
            out.lon[idx], out.lat[idx], _ = h3_centres(lon, lat, spec.resolution)
            out.as_point[idx] = True
        elif spec.method == "donut":
            if key is None:
                key = _require_key(key_source, spec)
            lon2, lat2, kept, rejected = donut_points(
                fs.ids[idx],
                lon,
                lat,
                key,
                epoch=spec.epoch,
                r_min_m=spec.r_min_m,
                r_max_m=spec.r_max_m,
                aoi=aoi,
                max_attempts=spec.max_attempts,
            )
            out.lon[idx], out.lat[idx] = lon2, lat2
            out.kept[idx[~kept]] = False
            point = fs.is_point[idx]
            out.as_point[idx[point]] = True
            out.offset[idx[~point]] = True
            stats["rejected_draws"] = rejected
        stats["suppressed"] = int((~out.kept[idx]).sum())
    out.lon[~out.kept] = np.nan
    out.lat[~out.kept] = np.nan
    return out


def _require_key(key_source: Callable[[], MaskKey] | None, spec: MaskSpec) -> MaskKey:
    if key_source is None:
        raise ObligationError(
            f"obligation {spec.code}: method {spec.method} is keyed and no masking key source "
            "was given; set KFM_MASK_KEY or the key file (fail closed)"
        )
    return key_source()


def translate_geometries(
    geoms: NDArray[np.object_], dlon: FloatArray, dlat: FloatArray
) -> NDArray[np.object_]:
    """Each geometry moved by its own (dlon, dlat) degrees, vectorized over all vertices."""
    if geoms.shape[0] == 0:
        return geoms
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    coords = coords + np.stack([dlon[index], dlat[index]], axis=1)
    return np.asarray(shapely.set_coordinates(geoms.copy(), coords), dtype=object)


def _privacy_properties(spec: MaskSpec) -> dict[str, Any]:
    props: dict[str, Any] = {
        "kfm:privacy_method": METHOD_LABELS[spec.method],
        "kfm:sensitivity_label": "generalized",
        "kfm:mask_epoch": spec.epoch,
    }
    if spec.method == "donut":
        props["kfm:r_min_m"] = spec.r_min_m
        props["kfm:r_max_m"] = spec.r_max_m
    if spec.method in ("grid", "k_anonymity"):
        props["kfm:cell_m"] = spec.cell_m
    if spec.method == "k_anonymity":
        props["kfm:k"] = spec.k
    if spec.method == "h3":
        props["kfm:h3_resolution"] = spec.resolution
    if "tier" in spec.params:
        props["kfm:privacy_tier"] = spec.params["tier"]
    return props


def feature_transform(fs: FeatureSet, outcome: MaskOutcome, i: int) -> Transform:
    """How feature ``i``'s coordinate-like properties move: to its published point, or by
    the offset its line or polygon was translated by."""
    if outcome.as_point[i]:
        return Transform(point=(float(outcome.lon[i]), float(outcome.lat[i])))
    return Transform(shift=(float(outcome.lon[i] - fs.lon[i]), float(outcome.lat[i] - fs.lat[i])))


def public_document(
    fs: FeatureSet, outcome: MaskOutcome, tally: Masked | None = None
) -> dict[str, Any]:
    """The public GeoJSON: masked geometry only, no ``bbox``, privacy properties added, and
    every coordinate-like property of a treated feature masked with its geometry
    (:mod:`kfm_gate.geo.coordinates`; counts added to ``tally``)."""
    if fs.raw is None or fs.doc is None:
        raise ObligationError(f"{fs.source}: features were not read from a GeoJSON document")
    translated: dict[int, BaseGeometry] = {}
    moved = np.flatnonzero(outcome.offset & outcome.kept)
    if moved.size:
        geoms = translate_geometries(
            fs.geoms[moved], outcome.lon[moved] - fs.lon[moved], outcome.lat[moved] - fs.lat[moved]
        )
        translated = dict(zip(moved.tolist(), geoms, strict=True))
    features: list[dict[str, Any]] = []
    labels = {i: _privacy_properties(s) for i, s in enumerate(outcome.specs)}
    lon, lat = outcome.lon.tolist(), outcome.lat.tolist()
    for i, raw in enumerate(fs.raw):
        if not outcome.kept[i]:
            continue
        feature = {k: v for k, v in raw.items() if k not in ("bbox", "crs")}
        spec_i = int(outcome.chosen[i])
        if spec_i >= 0:
            if outcome.as_point[i]:
                feature["geometry"] = {"type": "Point", "coordinates": [lon[i], lat[i]]}
            elif i in translated:
                feature["geometry"] = json.loads(shapely.to_geojson(translated[i]))
            props, masked = mask_properties(
                raw.get("properties") or {}, feature_transform(fs, outcome, i)
            )
            if tally is not None:
                tally.fields += masked.fields
                tally.unmasked += masked.unmasked
            props.update(labels[spec_i])
            feature["properties"] = props
        features.append(feature)
    doc = {k: v for k, v in fs.doc.items() if k not in ("bbox", "crs", "features")}
    doc["features"] = features
    return doc


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` as compact, deterministic JSON: temporary file in the folder, then rename."""
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    write_text_atomic(path, data)


def write_text_atomic(path: Path, data: str) -> None:
    """Write ``data``: temporary file in the folder, fsync, then rename (whole or not at all)."""
    fd, tmp = tempfile.mkstemp(prefix=".kfm-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class MaskingEngine:
    """Applies ``generalize`` and ``suppress`` geometry obligations to the public view.

    Rewrites every GeoJSON file of ``ctx.files`` (the ``public`` copy) in place. The key is
    read only when a keyed method runs; without one the obligation fails closed.
    """

    name = "geo-masking"
    kinds = frozenset({"generalize", "suppress"})

    def __init__(
        self,
        registries: Registries,
        *,
        key_source: Callable[[], MaskKey] | None = None,
    ) -> None:
        self.registries = registries
        self._key_source = key_source
        self._key: MaskKey | None = None

    def _key_for(self, ctx: GateContext) -> Callable[[], MaskKey]:
        def load() -> MaskKey:
            if self._key is None:
                source = self._key_source or (lambda: load_mask_key(repo_root=ctx.root))
                self._key = source()
            return self._key

        return load

    def apply(self, ctx: GateContext, obligations: tuple[Obligation, ...]) -> dict[str, Any]:
        specs = parse_specs([o for o in obligations if o.kind in self.kinds])
        aoi = self.registries.aoi.get(ctx.request.partition.aoi_key).geometry
        files: list[dict[str, Any]] = []
        totals: dict[str, dict[str, Any]] = {
            s.key: {**s.describe(), "features": 0, "suppressed": 0} for s in specs
        }
        key_loader = self._key_for(ctx)
        used_key = False
        coordinates = Masked()

        def tracked() -> MaskKey:
            nonlocal used_key
            used_key = True
            return key_loader()

        for vf in ctx.files:
            if is_csv(vf.public, vf.media_type) and specs:
                entry = self._mask_table(vf.public, vf.relpath, specs, aoi, tracked, coordinates)
                if entry is not None:
                    files.append(entry["file"])
                    for k, st in entry["stats"].items():
                        totals[k]["features"] += st["features"]
                        totals[k]["suppressed"] += st["suppressed"]
                continue
            if not is_geojson(vf.public, vf.media_type):
                continue
            fs = read_feature_collection(vf.public, vf.relpath)
            pairs = zone_pairs_for(fs, self.registries)

            outcome = mask_features(
                fs,
                specs,
                aoi=aoi,
                zone_pairs=pairs,
                zones=self.registries.zones.zones,
                key_source=tracked,
            )
            if specs:
                write_json_atomic(vf.public, public_document(fs, outcome, coordinates))
            for k, st in outcome.stats.items():
                totals[k]["features"] += st["features"]
                totals[k]["suppressed"] += st["suppressed"]
                if "rejected_draws" in st:
                    totals[k]["rejected_draws"] = (
                        totals[k].get("rejected_draws", 0) + st["rejected_draws"]
                    )
            files.append(
                {
                    "path": vf.relpath,
                    "features": len(fs),
                    "published": int(outcome.kept.sum()),
                    "treated": int((outcome.chosen >= 0).sum()),
                }
            )
        applied = [
            {
                "code": t["code"],
                "kind": t["kind"],
                "engine": self.name,
                "applied": bool(files),
                "key": k,
                "method": t["method"],
                "features": t["features"],
                "suppressed": t["suppressed"],
            }
            for k, t in totals.items()
        ]
        report: dict[str, Any] = {
            "engine": self.name,
            "applied": applied,
            "obligations": totals,
            "files": files,
            "coordinate_fields": {
                "masked": coordinates.fields - coordinates.unmasked,
                "not_maskable": coordinates.unmasked,
            },
        }
        if used_key and self._key is not None:
            report["key_id"] = self._key.key_id
            report["prf"] = "siphash-2-4(blake2b-subkey, utf-16-le id)+splitmix64"
        return report

    def _mask_table(
        self,
        path: Path,
        relpath: str,
        specs: Sequence[MaskSpec],
        aoi: BaseGeometry,
        key_source: Callable[[], MaskKey],
        coordinates: Masked,
    ) -> dict[str, Any] | None:
        """Mask a CSV table's rows as point features (position columns and every other
        coordinate-like cell); ``None`` when it holds no positions. Suppressed rows are
        dropped. A table with coordinates but no stable id column is refused (InputError)."""
        table = read_csv_points(path, relpath)
        if not table.has_positions:
            return None  # coordinate-like cells without a position: the verification counts them
        ids, lon, lat, rows = table.positions(relpath)
        fs = FeatureSet.from_points(ids, lon, lat, source=relpath)
        outcome = mask_features(
            fs,
            specs,
            aoi=aoi,
            zone_pairs=zone_pairs_for(fs, self.registries),
            zones=self.registries.zones.zones,
            key_source=key_source,
        )
        by_row = {r: i for i, r in enumerate(rows)}
        out: list[tuple[str, ...]] = []
        for r, row in enumerate(table.rows):
            i = by_row.get(r)
            if i is None or outcome.chosen[i] < 0:
                out.append(row)
                continue
            if not outcome.kept[i]:
                continue
            cells = dict(zip(table.header, row, strict=False))
            masked, tally = mask_properties(cells, feature_transform(fs, outcome, i))
            coordinates.fields += tally.fields
            coordinates.unmasked += tally.unmasked
            out.append(tuple(str(masked.get(h, "")) for h in table.header[: len(row)]))
        write_text_atomic(path, table.render(out))
        return {
            "file": {
                "path": relpath,
                "features": len(fs),
                "published": int(outcome.kept.sum()),
                "treated": int((outcome.chosen >= 0).sum()),
            },
            "stats": outcome.stats,
        }
