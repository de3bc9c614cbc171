"""Reading and validating the GeoJSON feature collections of a partition.

A feature collection is accepted only when every feature has a stable id (property
``feature_id``, else the feature's ``id``), unique in the file; a Point, LineString, Polygon or
Multi* geometry that is not empty; finite EPSG:4326 coordinates (longitude in [-180, 180],
latitude in [-90, 90]); valid polygons; and no CRS other than EPSG:4326 / OGC:CRS84. Anything
else raises :class:`~kfm_gate.errors.InputError` naming the file, the rows and ids and the
fix (never a coordinate value); the gate turns it into a blocking decision.

Points are kept as coordinate arrays (no shapely object per point on the hot path); other
geometries as shapely objects, with a representative point (``point_on_surface``) in the
arrays.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from kfm_gate.context import memo_file
from kfm_gate.errors import InputError

ACCEPTED_CRS_NAMES = frozenset(
    {
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "OGC:CRS84",
        "CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG:4326",
    }
)
GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
GEOJSON_MEDIA_TYPES = frozenset({"application/geo+json", "application/vnd.geo+json"})
#: problems listed per error message before "and N more"
_MAX_LISTED = 5


def is_geojson(path: Path | str, media_type: str = "") -> bool:
    """Whether an output is a GeoJSON file (by media type or suffix)."""
    return media_type in GEOJSON_MEDIA_TYPES or str(path).lower().endswith(
        (".geojson", ".geo.json")
    )


@dataclass(frozen=True)
class FeatureSet:
    """Validated features of one collection (or several, concatenated).

    ``lon``/``lat`` hold each point's coordinate, or the representative point of any other
    geometry; ``geoms[i]`` is ``None`` for points and a shapely geometry otherwise.
    """

    ids: NDArray[np.object_]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    is_point: NDArray[np.bool_]
    geoms: NDArray[np.object_]
    source: str = "<memory>"
    raw: tuple[dict[str, Any], ...] | None = field(default=None, repr=False)
    doc: dict[str, Any] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def from_points(
        cls, ids: Sequence[str] | NDArray[np.object_], lon: Any, lat: Any, source: str = "<memory>"
    ) -> FeatureSet:
        """Points from arrays (validated like a file): for tests, benchmarks, pipelines."""
        id_arr = np.asarray(ids, dtype=object)
        lon_arr = np.ascontiguousarray(lon, dtype=np.float64)
        lat_arr = np.ascontiguousarray(lat, dtype=np.float64)
        n = id_arr.shape[0]
        if lon_arr.shape != (n,) or lat_arr.shape != (n,):
            raise InputError(f"{source}: ids, lon and lat must have the same length ({n})")
        fs = cls(
            ids=id_arr,
            lon=lon_arr,
            lat=lat_arr,
            is_point=np.ones(n, dtype=bool),
            geoms=np.full(n, None, dtype=object),
            source=source,
        )
        _check_ids(fs.ids, source)
        _check_coordinates(fs, source)
        return fs

    def geometry(self, i: int) -> shapely.Geometry:
        """The shapely geometry of feature ``i`` (built on demand for points)."""
        g = self.geoms[i]
        return shapely.Point(self.lon[i], self.lat[i]) if g is None else g

    def all_geometries(self) -> NDArray[np.object_]:
        """Every feature as a shapely geometry (vectorized for the points)."""
        out = self.geoms.copy()
        if self.is_point.any():
            out[self.is_point] = shapely.points(self.lon[self.is_point], self.lat[self.is_point])
        return out


def concat(sets: Iterable[FeatureSet]) -> FeatureSet:
    """Several validated sets as one (ids must stay unique across them)."""
    items = list(sets)
    if not items:
        return FeatureSet.from_points([], [], [])
    if len(items) == 1:
        return items[0]
    fs = FeatureSet(
        ids=np.concatenate([s.ids for s in items]),
        lon=np.concatenate([s.lon for s in items]),
        lat=np.concatenate([s.lat for s in items]),
        is_point=np.concatenate([s.is_point for s in items]),
        geoms=np.concatenate([s.geoms for s in items]),
        source=", ".join(s.source for s in items),
    )
    _check_ids(fs.ids, fs.source)
    return fs


def _crs_name(member: Any) -> str | None:
    if member is None:
        return None
    if isinstance(member, dict):
        props = member.get("properties")
        if isinstance(props, dict) and isinstance(props.get("name"), str):
            return str(props["name"])
    return json.dumps(member, sort_keys=True)[:120]


def _listed(items: Sequence[str]) -> str:
    head = "; ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return head + (f"; and {more} more" if more > 0 else "")


def _check_ids(ids: NDArray[np.object_], source: str) -> None:
    import pandas as pd

    index = pd.Index(ids)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:_MAX_LISTED]
        raise InputError(
            f"{source}: {int(index.duplicated().sum())} features repeat a stable id (e.g. "
            f"{', '.join(repr(str(d)) for d in dup)}); each feature needs its own feature_id"
        )


def _check_coordinates(fs: FeatureSet, source: str) -> None:
    bad_finite = ~(np.isfinite(fs.lon) & np.isfinite(fs.lat))
    bad_range = ~bad_finite & ((np.abs(fs.lat) > 90) | (np.abs(fs.lon) > 180))
    problems: list[str] = []
    for mask, what in (
        (bad_finite, "NaN or infinite coordinate"),
        (
            bad_range,
            "coordinate out of range (latitude must be in [-90, 90], longitude in "
            "[-180, 180]; GeoJSON is longitude first)",
        ),
    ):
        rows = np.flatnonzero(mask)
        if rows.size:
            problems.extend(f"row {r} (id {fs.ids[r]!r}): {what}" for r in rows[:_MAX_LISTED])
            if rows.size > _MAX_LISTED:
                problems.append(f"{rows.size - _MAX_LISTED} more rows with {what.split(' (')[0]}")
    if problems:
        raise InputError(f"{source}: invalid coordinates: {_listed(problems)}")


def _stable_id(feature: dict[str, Any]) -> str | None:
    props = feature.get("properties")
    value = props.get("feature_id") if isinstance(props, dict) else None
    if value is None:
        value = feature.get("id")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def parse_feature_collection(doc: Any, source: str) -> FeatureSet:
    """Validate a parsed GeoJSON document (see the module docstring)."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError(f"{source}: not a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise InputError(f"{source}: the FeatureCollection has no 'features' list")
    crs_names = {_crs_name(doc.get("crs"))} | {
        _crs_name(f.get("crs")) for f in features if isinstance(f, dict) and "crs" in f
    }
    crs_names.discard(None)
    foreign = sorted(str(c) for c in crs_names if c not in ACCEPTED_CRS_NAMES)
    if foreign:
        raise InputError(
            f"{source}: declares a second CRS {', '.join(foreign)}; kfm-gate reads GeoJSON in "
            "EPSG:4326 (lon, lat) only: reproject the data and remove the 'crs' member"
        )
    n = len(features)
    ids = np.empty(n, dtype=object)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    is_point = np.zeros(n, dtype=bool)
    geoms = np.full(n, None, dtype=object)
    problems: list[str] = []
    for row, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(f"row {row}: not a GeoJSON Feature")
            continue
        fid = _stable_id(feature)
        if fid is None:
            problems.append(
                f"row {row}: no stable id (set properties.feature_id or the feature's id)"
            )
            continue
        ids[row] = fid
        gj = feature.get("geometry")
        gtype = gj.get("type") if isinstance(gj, dict) else None
        if gj is None:
            problems.append(f"row {row} (id {fid!r}): empty geometry (null)")
            continue
        if gtype not in GEOMETRY_TYPES:
            problems.append(
                f"row {row} (id {fid!r}): geometry type {gtype!r} is not supported "
                f"({', '.join(sorted(GEOMETRY_TYPES))})"
            )
            continue
        coords = gj.get("coordinates")
        if gtype == "Point":
            if (
                isinstance(coords, list)
                and len(coords) in (2, 3)
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
            ):
                lon[row], lat[row] = float(coords[0]), float(coords[1])
                is_point[row] = True
            else:
                problems.append(f"row {row} (id {fid!r}): empty or malformed Point coordinates")
            continue
        try:
            geom = shapely.geometry.shape(gj)
        except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException):
            problems.append(f"row {row} (id {fid!r}): malformed {gtype} coordinates")
            continue
        if geom.is_empty:
            problems.append(f"row {row} (id {fid!r}): empty geometry")
            continue
        xy = shapely.get_coordinates(geom)
        if not np.isfinite(xy).all():
            problems.append(f"row {row} (id {fid!r}): NaN or infinite coordinate")
            continue
        if (np.abs(xy[:, 1]) > 90).any() or (np.abs(xy[:, 0]) > 180).any():
            problems.append(
                f"row {row} (id {fid!r}): coordinate out of range (latitude in [-90, 90], "
                "longitude in [-180, 180]; GeoJSON is longitude first)"
            )
            continue
        if not geom.is_valid:
            reason = str(shapely.is_valid_reason(geom)).split("[", 1)[0].strip()
            problems.append(
                f"row {row} (id {fid!r}): invalid {gtype} ({reason}); repair it upstream "
                "(e.g. shapely.make_valid) before the gate"
            )
            continue
        geoms[row] = geom
        rep = shapely.point_on_surface(geom)
        lon[row], lat[row] = rep.x, rep.y
    if problems:
        raise InputError(f"{source}: {len(problems)} invalid features: {_listed(problems)}")
    fs = FeatureSet(
        ids=ids,
        lon=lon,
        lat=lat,
        is_point=is_point,
        geoms=geoms,
        source=source,
        raw=tuple(features),
        doc=doc,
    )
    _check_ids(ids, source)
    _check_coordinates(fs, source)
    return fs


def _nan_constant(name: str) -> float:
    return float("nan")  # kept as NaN so the row can be named in the error


def read_feature_collection(
    path: Path, source: str | None = None, *, memo: dict[str, Any] | None = None
) -> FeatureSet:
    """Read and validate a GeoJSON file (``source`` names it in errors; default: the path).

    ``memo``: a gate run's memo (``GateContext.memo``); the candidate is then parsed once per
    run for the geo context and the verification. Callers must not modify the result.
    """
    label = source or str(path)
    if memo is not None:
        return memo_file(
            memo, f"features|{label}", path, lambda: read_feature_collection(path, source)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{label}: cannot read the GeoJSON file: {err}") from err
    try:
        doc = json.loads(text, parse_constant=_nan_constant)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{label}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from err
    return parse_feature_collection(doc, label)


def read_table_points(
    path: Path, source: str, *, memo: dict[str, Any] | None = None
) -> FeatureSet | None:
    """The rows of a CSV table that carry a position, as point features for the geo context
    (ids ``<source>#<row id>``: a table may repeat the features of a GeoJSON output);
    ``None`` when the table has no position columns."""
    from kfm_gate.geo.coordinates import read_csv_points

    def load() -> FeatureSet | None:
        table = read_csv_points(path, source)
        if not table.has_positions:
            return None
        ids, lon, lat, _ = table.positions(source)
        return FeatureSet.from_points([f"{source}#{i}" for i in ids], lon, lat, source=source)

    return memo_file(memo, f"table-points|{source}", path, load)


def read_request_features(
    files: Iterable[tuple[str, Path, str]], *, memo: dict[str, Any] | None = None
) -> FeatureSet | None:
    """The validated features of every GeoJSON output and the positioned rows of every CSV
    table (:func:`read_table_points`), as one set; ``None`` when none.

    ``files`` yields ``(relpath, absolute path, media type)``, e.g. from the gate's
    ``ViewFile`` objects (``(f.relpath, f.candidate, f.media_type)``).
    """
    from kfm_gate.geo.coordinates import is_csv

    sets = []
    for relpath, path, media in files:
        if is_geojson(path, media):
            sets.append(read_feature_collection(path, relpath, memo=memo))
        elif is_csv(path, media):
            points = read_table_points(path, relpath, memo=memo)
            if points is not None:
                sets.append(points)
    return concat(sets) if sets else None
