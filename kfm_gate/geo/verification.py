"""Geo verification: what the public view really holds, compared with the candidate.

The collector never trusts the masking engine's report. From the candidate, the obligations
and the registries it recomputes which obligation governs each feature (the same
:func:`~kfm_gate.geo.masking.assign_specs`), then measures the public view: displacement
(min / median / max, metres), features moved less than ``r_min_m`` or more than ``r_max_m``,
the smallest published cell count of a k-anonymity obligation, containment violations
(donut and centroid outside the AOI; grid, k-anonymity and H3 not the centre of the input's
cell), features suppressed or wrongly still published, the features touching a sensitive
zone whose published location equals the input, and the coordinate-like properties of every
treated feature (``lon``/``lat``, WKT, ``"38.9, -95.2"``...): each must be masked with its
geometry (:mod:`kfm_gate.geo.coordinates`). CSV tables with positions are checked as point
features, row by row. It needs no key.

Evidence carries counts and distances only: never a coordinate, never an id of a feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, KfmGateError
from kfm_gate.geo.coordinates import (
    CsvPoints,
    Masked,
    Transform,
    check_properties,
    is_csv,
    read_csv_points,
)
from kfm_gate.geo.features import FeatureSet, is_geojson, read_feature_collection
from kfm_gate.geo.masking import (
    DISTANCE_TOLERANCE_M,
    MaskSpec,
    aoi_anchor,
    assign_specs,
    cell_codes,
    distance_m,
    grid_cells,
    grid_centres,
    h3_centres,
    parse_specs,
    zone_pairs_for,
)
from kfm_gate.geo.registry import Registries, Zone
from kfm_gate.models import EvidenceSection

#: a published location within this distance of the input counts as unchanged
UNCHANGED_TOLERANCE_M = 1.0
#: degrees of slack when checking that a published line/polygon is a rigid translation
_SHAPE_TOLERANCE_DEG = 1e-9

FloatArray = NDArray[np.float64]


def _stats(d: FloatArray) -> dict[str, float | None]:
    if d.size == 0:
        return {"min": None, "median": None, "max": None}
    return {
        "min": round(float(d.min()), 2),
        "median": round(float(np.median(d)), 2),
        "max": round(float(d.max()), 2),
    }


def _published_reference(
    candidate: FeatureSet, public: FeatureSet, cand_idx: NDArray[np.intp]
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Reference points of the published features and whether each one's shape is consistent.

    Published points are their own reference. A published line or polygon must be a rigid
    translation of its candidate; its reference is the candidate's representative point moved
    by the same offset (what the engine checked).
    """
    lon, lat = public.lon.copy(), public.lat.copy()
    ok = np.ones(len(public), dtype=bool)
    other = np.flatnonzero(~public.is_point)
    if other.size == 0:
        return lon, lat, ok
    cidx = cand_idx[other]
    cand_point = candidate.is_point[cidx]
    ok[other[cand_point]] = False  # a point may not come back as a line or polygon
    rest, crest = other[~cand_point], cidx[~cand_point]
    if rest.size == 0:
        return lon, lat, ok
    pc, pi = shapely.get_coordinates(public.geoms[rest], return_index=True)
    cc, ci = shapely.get_coordinates(candidate.geoms[crest], return_index=True)
    same_count = np.bincount(pi, minlength=rest.size) == np.bincount(ci, minlength=rest.size)
    first_p = np.searchsorted(pi, np.arange(rest.size))
    first_c = np.searchsorted(ci, np.arange(rest.size))
    shift = pc[np.minimum(first_p, len(pc) - 1)] - cc[np.minimum(first_c, len(cc) - 1)]
    consistent = same_count.copy()
    if same_count.all():
        dev = np.abs(pc - cc - shift[pi]).max(axis=1)
        bad = np.zeros(rest.size, dtype=bool)
        np.logical_or.at(bad, pi, dev > _SHAPE_TOLERANCE_DEG)
        consistent &= ~bad
    else:
        for j in np.flatnonzero(same_count):  # rare path: check one by one
            a = shapely.get_coordinates(public.geoms[rest[j]])
            b = shapely.get_coordinates(candidate.geoms[crest[j]])
            consistent[j] = bool((np.abs(a - b - shift[j]) <= _SHAPE_TOLERANCE_DEG).all())
    same_type = shapely.get_type_id(public.geoms[rest]) == shapely.get_type_id(
        candidate.geoms[crest]
    )
    ok[rest] = consistent & same_type
    lon[rest] = candidate.lon[crest] + shift[:, 0]
    lat[rest] = candidate.lat[crest] + shift[:, 1]
    return lon, lat, ok


def verify_features(
    candidate: FeatureSet,
    public: FeatureSet,
    specs: Sequence[MaskSpec],
    *,
    aoi: BaseGeometry | None,
    zone_pairs: tuple[NDArray[np.intp], NDArray[np.intp]],
    zones: Sequence[Zone],
) -> dict[str, Any]:
    """Measure ``public`` against ``candidate`` (see the module docstring). Counts only."""
    import pandas as pd

    n = len(candidate)
    chosen = assign_specs(specs, n, zone_pairs, zones)
    if len(public) == n and bool((public.ids == candidate.ids).all()):
        cand_idx_all = np.arange(n, dtype=np.intp)  # same features, same order
    else:
        cand_idx_all = pd.Index(candidate.ids).get_indexer(public.ids)
    unexpected = int((cand_idx_all < 0).sum())
    matched = cand_idx_all >= 0
    pub_rows = np.flatnonzero(matched)
    cand_idx = cand_idx_all[pub_rows].astype(np.intp)
    pub = public if matched.all() else _subset(public, pub_rows)
    published = np.zeros(n, dtype=bool)
    published[cand_idx] = True
    ref_lon, ref_lat, shape_ok = _published_reference(candidate, pub, cand_idx)
    d = distance_m(candidate.lon[cand_idx], candidate.lat[cand_idx], ref_lon, ref_lat)
    spec_of_pub = chosen[cand_idx]

    in_zone = np.zeros(n, dtype=bool)
    in_zone[zone_pairs[0]] = True
    zone_pub = in_zone[cand_idx]
    unchanged_in_zones = int((zone_pub & (d < UNCHANGED_TOLERANCE_M)).sum())

    per: dict[str, dict[str, Any]] = {}
    contain_total = 0
    moved_less_total = 0
    min_ks: list[int] = []
    for i, spec in enumerate(specs):
        assigned = int((chosen == i).sum())
        sel = np.flatnonzero(spec_of_pub == i)
        ds = d[sel]
        plon, plat = ref_lon[sel], ref_lat[sel]
        mismatch = int((~shape_ok[sel]).sum())
        entry: dict[str, Any] = {
            **spec.describe(),
            "features": assigned,
            "published": int(sel.size),
            "suppressed": assigned - int(sel.size),
            "displacement_m": _stats(ds),
            "geometry_mismatch": mismatch,
        }
        point_out = pub.is_point[sel]
        contain = 0
        if spec.method == "suppress":
            entry["not_suppressed"] = int(sel.size)
        elif spec.method == "donut":
            less = int((ds < spec.r_min_m - DISTANCE_TOLERANCE_M).sum())
            entry["moved_less_than_r_min"] = less
            entry["moved_more_than_r_max"] = int((ds > spec.r_max_m + DISTANCE_TOLERANCE_M).sum())
            moved_less_total += less
            if aoi is not None:
                contain = int((~shapely.intersects_xy(aoi, plon, plat)).sum())
        else:
            clon, clat = candidate.lon[cand_idx[sel]], candidate.lat[cand_idx[sel]]
            if spec.method == "centroid":
                if aoi is None:
                    raise CollectorError("centroid verification needs the partition's AOI")
                ax, ay = aoi_anchor(aoi)
                elon, elat = np.full(sel.size, ax), np.full(sel.size, ay)
            elif spec.method in ("grid", "k_anonymity"):
                elon, elat = grid_centres(*grid_cells(clon, clat, spec.cell_m), spec.cell_m)
            else:  # h3
                elon, elat, _ = h3_centres(clon, clat, spec.resolution)
            off = distance_m(elon, elat, plon, plat) > DISTANCE_TOLERANCE_M
            contain = int((off | ~point_out).sum())
            if spec.method == "k_anonymity":
                ix, iy = grid_cells(plon, plat, spec.cell_m)
                if sel.size:
                    _, counts = np.unique(cell_codes(ix, iy), return_counts=True)
                    entry["min_k"] = int(counts.min())
                    min_ks.append(int(counts.min()))
                else:
                    entry["min_k"] = None
                entry["k"] = spec.k
        entry["containment_violations"] = contain
        contain_total += contain
        per[spec.key] = entry

    coordinates = _check_feature_properties(
        candidate, public, chosen, pub_rows, cand_idx, ref_lon, ref_lat, pub.is_point
    )
    treated_pub = spec_of_pub >= 0
    return {
        "features_total": n,
        "features_published": int(pub_rows.size),
        "features_in_zones": int(in_zone.sum()),
        "unchanged_in_zones": unchanged_in_zones,
        "untreated_in_zones": int((in_zone & (chosen < 0)).sum()),
        "displacement_m": _stats(d[treated_pub]),
        "moved_less_than_r_min": moved_less_total,
        "min_k": min(min_ks) if min_ks else None,
        "containment_violations": contain_total,
        "suppressed": int(n - published.sum()),
        "not_suppressed": sum(int(e.get("not_suppressed", 0)) for e in per.values()),
        "geometry_mismatch": sum(int(e["geometry_mismatch"]) for e in per.values()),
        "unexpected_features": unexpected,
        "coordinate_fields": coordinates.fields,
        "coordinate_fields_unmasked": coordinates.unmasked,
        "per_obligation": per,
    }


def _check_feature_properties(
    candidate: FeatureSet,
    public: FeatureSet,
    chosen: NDArray[np.intp],
    pub_rows: NDArray[np.intp],
    cand_idx: NDArray[np.intp],
    ref_lon: FloatArray,
    ref_lat: FloatArray,
    pub_is_point: NDArray[np.bool_],
) -> Masked:
    """Coordinate-like properties of the treated published features against their geometry."""
    total = Masked()
    if candidate.raw is None or public.raw is None:
        return total
    for j, row in enumerate(pub_rows.tolist()):
        ci = int(cand_idx[j])
        if chosen[ci] < 0:
            continue
        if pub_is_point[j]:
            transform = Transform(point=(float(ref_lon[j]), float(ref_lat[j])))
        else:
            transform = Transform(
                shift=(
                    float(ref_lon[j] - candidate.lon[ci]),
                    float(ref_lat[j] - candidate.lat[ci]),
                )
            )
        result = check_properties(_props(candidate.raw[ci]), _props(public.raw[row]), transform)
        total.fields += result.fields
        total.unmasked += result.unmasked
    return total


def _props(feature: Any) -> dict[str, Any]:
    props = feature.get("properties") if isinstance(feature, dict) else None
    return props if isinstance(props, dict) else {}


def verify_table(
    candidate: CsvPoints,
    public: CsvPoints,
    specs: Sequence[MaskSpec],
    *,
    source: str,
    aoi: BaseGeometry | None,
    registries: Registries,
) -> dict[str, Any] | None:
    """A CSV table's rows as point features (the same measures as GeoJSON features, and
    every coordinate-like cell); ``None`` when the table holds no coordinates at all.

    A table with coordinate-like cells but no position columns cannot be masked with any
    geometry: with a geometry obligation, every such cell counts as not masked."""
    columns = candidate.coordinate_columns()
    if not columns and not public.coordinate_columns():
        return None
    if not candidate.has_positions:
        unmasked = sum(
            1 for row in public.rows for c in public.coordinate_columns() if c < len(row) and row[c]
        )
        return {
            **_empty_part(),
            "coordinate_fields": unmasked,
            "coordinate_fields_unmasked": unmasked if specs else 0,
        }
    ids, lon, lat, rows = candidate.positions(source)
    cand_fs = FeatureSet.from_points(ids, lon, lat, source=source)
    pids, plon, plat, prows = public.positions(f"{source} (public view)")
    pub_fs = FeatureSet.from_points(pids, plon, plat, source=f"{source} (public view)")
    pairs = zone_pairs_for(cand_fs, registries)
    part = verify_features(
        cand_fs, pub_fs, specs, aoi=aoi, zone_pairs=pairs, zones=registries.zones.zones
    )
    # coordinate-like cells of every treated row, against the row's published position
    chosen = assign_specs(specs, len(cand_fs), pairs, registries.zones.zones)
    index = {str(i): n for n, i in enumerate(ids)}
    total = Masked()
    for n, r in enumerate(prows):
        ci = index.get(str(pids[n]))
        if ci is None or chosen[ci] < 0:
            continue
        transform = Transform(point=(float(plon[n]), float(plat[n])))
        result = check_properties(
            dict(zip(candidate.header, candidate.rows[rows[ci]], strict=False)),
            dict(zip(public.header, public.rows[r], strict=False)),
            transform,
        )
        total.fields += result.fields
        total.unmasked += result.unmasked
    part["coordinate_fields"] = total.fields
    part["coordinate_fields_unmasked"] = total.unmasked
    return part


def _empty_part() -> dict[str, Any]:
    return {
        "features_total": 0,
        "features_published": 0,
        "features_in_zones": 0,
        "unchanged_in_zones": 0,
        "untreated_in_zones": 0,
        "displacement_m": _stats(np.empty(0)),
        "moved_less_than_r_min": 0,
        "min_k": None,
        "containment_violations": 0,
        "suppressed": 0,
        "not_suppressed": 0,
        "geometry_mismatch": 0,
        "unexpected_features": 0,
        "per_obligation": {},
    }


def _subset(fs: FeatureSet, rows: NDArray[np.intp]) -> FeatureSet:
    return FeatureSet(
        ids=fs.ids[rows],
        lon=fs.lon[rows],
        lat=fs.lat[rows],
        is_point=fs.is_point[rows],
        geoms=fs.geoms[rows],
        source=fs.source,
    )


def _merge(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one file's counts to the partition's (displacement is recomputed by the caller)."""
    for name in (
        "features_total",
        "features_published",
        "features_in_zones",
        "unchanged_in_zones",
        "untreated_in_zones",
        "moved_less_than_r_min",
        "containment_violations",
        "suppressed",
        "not_suppressed",
        "geometry_mismatch",
        "unexpected_features",
        "coordinate_fields",
        "coordinate_fields_unmasked",
    ):
        total[name] = total.get(name, 0) + part[name]
    if part["min_k"] is not None:
        total["min_k"] = (
            part["min_k"] if total.get("min_k") is None else min(total["min_k"], part["min_k"])
        )
    per = total.setdefault("per_obligation", {})
    for key, entry in part["per_obligation"].items():
        if key not in per:
            per[key] = dict(entry)
            continue
        agg = per[key]
        for name, value in entry.items():
            if name in (
                "features",
                "published",
                "suppressed",
                "geometry_mismatch",
                "moved_less_than_r_min",
                "moved_more_than_r_max",
                "containment_violations",
                "not_suppressed",
            ):
                agg[name] = agg.get(name, 0) + value
            elif name == "min_k" and value is not None:
                agg[name] = value if agg.get(name) is None else min(agg[name], value)
            elif name == "displacement_m":
                lo, hi = agg[name], value
                agg[name] = {
                    "min": _opt(min, lo["min"], hi["min"]),
                    "median": None,  # a median does not merge: see the per-file entries
                    "max": _opt(max, lo["max"], hi["max"]),
                }


def _opt(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(fn(a, b))


class GeoVerificationCollector:
    """Evidence section ``geo``: verification of the public view against the candidate."""

    name = "geo"

    def __init__(self, registries: Registries) -> None:
        self.registries = registries

    def collect(self, ctx: GateContext) -> EvidenceSection:
        try:
            specs = parse_specs(ctx.obligations)
            aoi = self.registries.aoi.get(ctx.request.partition.aoi_key).geometry
            total: dict[str, Any] = {"min_k": None, "per_obligation": {}}
            files: list[dict[str, Any]] = []
            parts: list[dict[str, Any]] = []
            for vf in ctx.files:
                if is_csv(vf.candidate, vf.media_type):
                    table = verify_table(
                        read_csv_points(vf.candidate, vf.relpath),
                        read_csv_points(vf.public, f"{vf.relpath} (public view)"),
                        specs,
                        source=vf.relpath,
                        aoi=aoi,
                        registries=self.registries,
                    )
                    if table is None:
                        continue
                    part = table
                elif not is_geojson(vf.candidate, vf.media_type):
                    continue
                else:
                    candidate = read_feature_collection(vf.candidate, vf.relpath, memo=ctx.memo)
                    public = read_feature_collection(vf.public, f"{vf.relpath} (public view)")
                    pairs = zone_pairs_for(candidate, self.registries)
                    part = verify_features(
                        candidate,
                        public,
                        specs,
                        aoi=aoi,
                        zone_pairs=pairs,
                        zones=self.registries.zones.zones,
                    )
                parts.append(part)
                _merge(total, part)
                files.append(
                    {
                        "path": vf.relpath,
                        "features_total": part["features_total"],
                        "features_published": part["features_published"],
                        "displacement_m": part["displacement_m"],
                    }
                )
        except KfmGateError as err:
            raise CollectorError(f"geo verification failed: {err}") from err
        if not parts:
            return EvidenceSection(
                collector="GeoVerificationCollector",
                status="skipped",
                data={
                    "reason": "no GeoJSON output nor table with coordinates",
                    "features_total": 0,
                },
            )
        if len(parts) == 1:
            data = parts[0]
        else:
            data = {**total}
            data["displacement_m"] = {
                "min": _opt_all(min, [p["displacement_m"]["min"] for p in parts]),
                "median": None,
                "max": _opt_all(max, [p["displacement_m"]["max"] for p in parts]),
            }
        data = {
            **data,
            "aoi_id": ctx.request.partition.aoi_key,
            "files": files,
            "obligations_checked": len(specs),
            "tolerance_m": {"distance": DISTANCE_TOLERANCE_M, "unchanged": UNCHANGED_TOLERANCE_M},
            "registry": self.registries.summary(),
        }
        return EvidenceSection(collector="GeoVerificationCollector", data=data)


def _opt_all(fn: Any, values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(fn(present)) if present else None
