"""Coordinates outside the geometry: properties and CSV columns that repeat a position.

A feature may carry its position again as properties (``lon``/``lat``, ``x``/``y``,
``latitude``, ``decimalLongitude``, a WKT string, ``"38.9, -95.2"``, a GeoJSON geometry or a
``[lon, lat]`` array), and a CSV table carries positions only in columns. Whenever a geometry
obligation applies to a feature, every such field is masked with the geometry, consistently
with it (:func:`mask_properties`): a feature published as a point gets that point in every
field; a line or polygon translated by the donut moves every field by the same offset. The
verification recomputes the same transform from the candidate (no key is needed: the
published geometry already holds the draw) and counts the fields that differ
(:func:`check_properties`); a value that looks like a coordinate but cannot be masked
(``x = 512345.6`` metres) stays as it is and is counted too, and the policy denies.

Which names are coordinate-like: the name split into words (``site_lon`` -> ``site``,
``lon``; ``decimalLatitude`` -> ``decimal``, ``latitude``) holds a word of :data:`LON_WORDS`
(longitude), :data:`LAT_WORDS` (latitude) or :data:`PAIR_WORDS` (a whole position). ``x`` and
``y`` count only as a pair of properties. Any string that is a WKT geometry or two decimal
numbers in range (``"38.9717, -95.2412"``) counts whatever its name. Keys starting with
``kfm:`` (the privacy labels) are not data.

CSV tables (:func:`read_csv_points`) are point features: their position comes from a
longitude and a latitude column (or one position column), their stable id from the first of
:data:`ROW_ID_COLUMNS` present; a table with coordinates and no id column is refused, since a
keyed draw needs a stable id.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kfm_gate.errors import InputError

LON_WORDS = frozenset({"lon", "lng", "long", "longitude", "x"})
LAT_WORDS = frozenset({"lat", "latitude", "y"})
PAIR_WORDS = frozenset(
    {
        "coords",
        "coordinates",
        "coord",
        "latlon",
        "latlng",
        "latlong",
        "lonlat",
        "lnglat",
        "location",
        "position",
        "point",
        "wkt",
        "geom",
        "geometry",
        "centroid",
    }
)
#: words of a pair name whose first number is the latitude
LAT_FIRST = frozenset({"latlon", "latlng", "latlong"})
#: CSV columns giving a row's stable id, in order of preference
ROW_ID_COLUMNS = ("feature_id", "id", "site_id")
#: largest CSV table read for positions
MAX_CSV_BYTES = 256 * 1024 * 1024
#: a published field within this distance of its expected position is consistent (metres)
FIELD_TOLERANCE_M = 0.05

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_NUMBER = re.compile(r"^\s*[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s*$")
_PAIR = re.compile(
    r"^(?P<pre>\s*[(\[]?\s*)(?P<a>[-+]?\d{1,3}\.\d+)(?P<sep>\s*[,;]\s*|\s+)"
    r"(?P<b>[-+]?\d{1,3}\.\d+)(?P<post>\s*[)\]]?\s*)$"
)
_WKT = re.compile(
    r"^\s*(?:SRID=\d+;\s*)?(?:MULTI)?(?:POINT|LINESTRING|POLYGON)\s*(?:Z|M|ZM)?\s*\(", re.I
)
_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)


def words(name: str) -> list[str]:
    """The words of a field name, lowercase (``decimalLongitude`` -> decimal, longitude)."""
    return [w.lower() for w in _WORD.findall(name)]


def field_role(name: str, *, with_xy: bool = True) -> str | None:
    """``lon``, ``lat``, ``pair`` or ``None`` for a property or column name."""
    found = set(words(name))
    lon_words, lat_words = LON_WORDS, LAT_WORDS
    if not with_xy:
        lon_words, lat_words = lon_words - {"x"}, lat_words - {"y"}
    is_lon, is_lat = bool(found & lon_words), bool(found & lat_words)
    if is_lon and not is_lat:
        return "lon"
    if is_lat and not is_lon:
        return "lat"
    if found & PAIR_WORDS or (is_lon and is_lat):
        return "pair"
    return None


def _has_xy_pair(keys: Any) -> bool:
    names = {w for k in keys if isinstance(k, str) for w in words(k)}
    return "x" in names and "y" in names


@dataclass(frozen=True)
class Transform:
    """How one feature's coordinates are published: all at ``point`` (a feature published as
    a point), or each moved by ``shift`` degrees (a translated line or polygon)."""

    point: tuple[float, float] | None = None
    shift: tuple[float, float] | None = None

    def move(self, lon: float, lat: float) -> tuple[float, float]:
        if self.point is not None:
            return self.point
        assert self.shift is not None
        return lon + self.shift[0], lat + self.shift[1]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.match(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _format(template: Any, number: float) -> Any:
    """``number`` in the type of ``template`` (a JSON number, or text for a text cell)."""
    if isinstance(template, str):
        return f"{number:.9f}"
    return number


def _in_range(lon: float, lat: float) -> bool:
    return abs(lon) <= 180 and abs(lat) <= 90


@dataclass
class Masked:
    """What :func:`mask_properties` did: the coordinate fields (their paths, e.g.
    ``location.lat``), and how many of them it could not mask."""

    fields: int = 0
    unmasked: int = 0
    paths: list[str] | None = None

    def add(self, path: str, *, masked: bool = True) -> None:
        self.fields += 1
        self.unmasked += 0 if masked else 1
        if self.paths is None:
            self.paths = []
        self.paths.append(path)


def mask_properties(
    props: Mapping[str, Any], transform: Transform
) -> tuple[dict[str, Any], Masked]:
    """``props`` with every coordinate-like field moved by ``transform`` (a new dict)."""
    tally = Masked()
    out = _mask_object(props, transform, tally, with_xy=_has_xy_pair(props), path="")
    return out, tally


def _mask_object(
    obj: Mapping[str, Any], transform: Transform, tally: Masked, *, with_xy: bool, path: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not path and isinstance(key, str) and key.startswith("kfm:"):
            out[key] = value
            continue
        name = str(key)
        role = field_role(name, with_xy=with_xy)
        where = f"{path}.{name}" if path else name
        out[key] = _mask_value(value, role, transform, tally, key=name, path=where)
    return out


def _mask_value(
    value: Any, role: str | None, transform: Transform, tally: Masked, *, key: str, path: str
) -> Any:
    if isinstance(value, dict):
        if value.get("type") in _GEOMETRY_TYPES and "coordinates" in value:
            tally.add(path)
            return _mask_geojson(value, transform)
        return _mask_object(value, transform, tally, with_xy=_has_xy_pair(value), path=path)
    if isinstance(value, str):
        text = _mask_text(value, transform)
        if text is not None:
            tally.add(path, masked=text != value or transform.point is None)
            return text
    if role in ("lon", "lat"):
        number = _number(value)
        if number is None:
            return value  # not a number (null, "n/a"): not a position
        if abs(number) > (180 if role == "lon" else 90):
            tally.add(path, masked=False)  # e.g. projected metres: cannot move with the geometry
            return value
        tally.add(path)
        # a lone component moves with its own axis of the published position
        lon, lat = transform.move(number, number)
        return _format(value, lon if role == "lon" else lat)
    if role == "pair" and isinstance(value, list) and len(value) in (2, 3):
        numbers = [_number(v) for v in value[:2]]
        if numbers[0] is None or numbers[1] is None:
            return value
        lat_first = bool(set(words(key)) & LAT_FIRST)
        lon, lat = (numbers[1], numbers[0]) if lat_first else (numbers[0], numbers[1])
        if not _in_range(lon, lat):
            tally.add(path, masked=False)
            return value
        tally.add(path)
        lon2, lat2 = transform.move(lon, lat)
        pair = [lat2, lon2] if lat_first else [lon2, lat2]
        return [_format(value[0], pair[0]), _format(value[1], pair[1]), *value[2:]]
    if isinstance(value, list):
        return [
            _mask_value(v, role, transform, tally, key=key, path=f"{path}[{i}]")
            for i, v in enumerate(value)
        ]
    return value


def _pair_order(a: float, b: float) -> bool:
    """Whether ``"a, b"`` is ``lat, lon`` (it is ``lon, lat`` only when ``a`` cannot be a
    latitude)."""
    return _in_range(b, a)


def _mask_text(value: str, transform: Transform) -> str | None:
    """A position written as text, masked; ``None`` when the text is not one."""
    found = _PAIR.match(value)
    if found:
        a, b = float(found.group("a")), float(found.group("b"))
        if not (_in_range(b, a) or _in_range(a, b)):
            return None
        lat_first = _pair_order(a, b)
        lon, lat = (b, a) if lat_first else (a, b)
        lon2, lat2 = transform.move(lon, lat)
        first, second = (lat2, lon2) if lat_first else (lon2, lat2)
        return (
            f"{found.group('pre')}{first:.9f}{found.group('sep')}{second:.9f}{found.group('post')}"
        )
    if _WKT.match(value):
        import shapely

        text = value.split(";", 1)[-1] if value.upper().startswith("SRID") else value
        try:
            geom = shapely.from_wkt(text)
        except shapely.errors.GEOSException:
            return value  # unreadable: left as it is, counted as not masked
        return _moved_wkt(geom, transform)
    return None


def _moved_wkt(geom: Any, transform: Transform) -> str:
    import shapely

    if transform.point is not None:
        lon, lat = transform.point
        return f"POINT ({lon!r} {lat!r})"
    assert transform.shift is not None
    shift = np.array(transform.shift)
    moved = shapely.transform(geom, lambda c: c + shift)
    return str(shapely.to_wkt(moved, rounding_precision=-1))


def _mask_geojson(value: Mapping[str, Any], transform: Transform) -> dict[str, Any]:
    if transform.point is not None:
        lon, lat = transform.point
        return {"type": "Point", "coordinates": [lon, lat]}

    def move(node: Any) -> Any:
        if isinstance(node, list) and len(node) >= 2:
            first, second = _number(node[0]), _number(node[1])
            if first is not None and second is not None and not isinstance(node[0], str):
                lon, lat = transform.move(first, second)
                return [lon, lat, *node[2:]]
        if isinstance(node, list):
            return [move(n) for n in node]
        return node

    return {**value, "coordinates": move(value.get("coordinates"))}


# -- checking ---------------------------------------------------------------------------------


def _at(obj: Any, path: str) -> tuple[bool, Any]:
    """The value at ``path`` (``a.b[2]``) of ``obj``: ``(found, value)``."""
    node = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and isinstance(node, list):
            index = int(part[1:-1])
            if index >= len(node):
                return False, None
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def check_properties(
    candidate: Mapping[str, Any], published: Mapping[str, Any], transform: Transform
) -> Masked:
    """The coordinate-like fields of ``published``, and how many of them are not what
    :func:`mask_properties` makes of ``candidate`` (or could not be masked at all). A field
    the view dropped hides nothing and is not counted."""
    expected, want = mask_properties(candidate, transform)
    _, seen = mask_properties(published, transform)
    result = Masked(fields=seen.fields, unmasked=want.unmasked)
    for path in sorted(set(seen.paths or ()) | set(want.paths or ())):
        has, value = _at(published, path)
        if not has:
            continue
        known, target = _at(expected, path)
        if not known or not _same(value, target):
            result.unmasked += 1
    return result


def _same(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        # degrees: FIELD_TOLERANCE_M is about 4.5e-7 degrees of latitude
        return abs(na - nb) <= FIELD_TOLERANCE_M / 111_000
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


# -- CSV tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvPoints:
    """A CSV table read for its positions: header, rows, position and id columns."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lon_column: int | None
    lat_column: int | None
    pair_column: int | None
    id_column: int | None
    dialect_newline: str = "\n"

    @property
    def has_positions(self) -> bool:
        return (self.lon_column is not None and self.lat_column is not None) or (
            self.pair_column is not None
        )

    def coordinate_columns(self) -> list[int]:
        """Every column holding positions (by name or by a position-like value)."""
        with_xy = _has_xy_pair(self.header)
        out = [i for i, name in enumerate(self.header) if field_role(name, with_xy=with_xy)]
        for i in range(len(self.header)):
            if i not in out and any(
                _PAIR.match(row[i]) or _WKT.match(row[i]) for row in self.rows if i < len(row)
            ):
                out.append(i)
        return sorted(out)

    def positions(self, source: str) -> tuple[list[str], list[float], list[float], list[int]]:
        """``(ids, lon, lat, row indexes)`` of the rows that have a position.

        InputError when the table has positions but no stable id column."""
        if not self.has_positions:
            return [], [], [], []
        if self.id_column is None:
            raise InputError(
                f"{source}: the table has coordinate columns but no stable id column "
                f"({', '.join(ROW_ID_COLUMNS)}): its rows cannot be masked consistently; add one"
            )
        ids: list[str] = []
        lons: list[float] = []
        lats: list[float] = []
        kept: list[int] = []
        for r, row in enumerate(self.rows):
            point = self.position(row)
            if point is None:
                continue
            ids.append(row[self.id_column] if self.id_column < len(row) else "")
            lons.append(point[0])
            lats.append(point[1])
            kept.append(r)
        return ids, lons, lats, kept

    def position(self, row: tuple[str, ...]) -> tuple[float, float] | None:
        if self.lon_column is not None and self.lat_column is not None:
            if max(self.lon_column, self.lat_column) >= len(row):
                return None
            lon, lat = _number(row[self.lon_column]), _number(row[self.lat_column])
            if lon is None or lat is None or not _in_range(lon, lat):
                return None
            return lon, lat
        assert self.pair_column is not None
        cell = row[self.pair_column] if self.pair_column < len(row) else ""
        found = _PAIR.match(cell)
        if found:
            a, b = float(found.group("a")), float(found.group("b"))
            return (b, a) if _pair_order(a, b) else (a, b)
        return None

    def render(self, rows: list[tuple[str, ...]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=self.dialect_newline)
        writer.writerow(self.header)
        writer.writerows(rows)
        return buffer.getvalue()


def is_csv(path: Path | str, media_type: str = "") -> bool:
    mt = media_type.split(";")[0].strip().lower()
    return mt in ("text/csv", "application/csv") or str(path).lower().endswith(".csv")


def read_csv_points(path: Path, source: str) -> CsvPoints:
    """Read a CSV table for its positions (see the module docstring)."""
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise InputError(f"{source}: the table is {size} bytes; the limit is {MAX_CSV_BYTES}")
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{source}: cannot read the table: {err}") from err
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise InputError(f"{source}: not a CSV table: {err}") from err
    if not table:
        return CsvPoints((), (), None, None, None, None, newline)
    header = tuple(table[0])
    rows = tuple(tuple(r) for r in table[1:])
    with_xy = _has_xy_pair(header)
    roles = [field_role(h, with_xy=with_xy) for h in header]
    lon = next((i for i, r in enumerate(roles) if r == "lon"), None)
    lat = next((i for i, r in enumerate(roles) if r == "lat"), None)
    pair = None
    if lon is None or lat is None:
        lon = lat = None
        pair = next(
            (
                i
                for i in range(len(header))
                if rows
                and all(_PAIR.match(row[i]) for row in rows if i < len(row) and row[i])
                and any(i < len(row) and row[i] for row in rows)
            ),
            None,
        )
    lowered = [h.strip().lower() for h in header]
    id_column = next((lowered.index(c) for c in ROW_ID_COLUMNS if c in lowered), None)
    return CsvPoints(header, rows, lon, lat, pair, id_column, newline)
