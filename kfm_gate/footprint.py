"""Where a public view lies: the bounding box of GeoJSON geometries.

The gate records the footprint of an allowed run's (already masked) public view; the catalogs
publish it. A bbox, not the features: a catalog needs where the data is, not each point.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kfm_gate.errors import RecordError


def geometry_bbox(geometry: Mapping[str, Any]) -> list[float]:
    """[west, south, east, north] of a GeoJSON geometry (any type, collections included)."""
    coords = geometry.get("coordinates")
    if (  # a point (the common case) is its own bbox
        geometry.get("type") == "Point"
        and isinstance(coords, list)
        and len(coords) >= 2
        and type(coords[0]) in (int, float)
        and type(coords[1]) in (int, float)
    ):
        x, y = float(coords[0]), float(coords[1])
        return [x, y, x, y]
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], int | float):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
        else:
            for c in coords:
                walk(c)

    if geometry.get("type") == "GeometryCollection":
        for g in geometry.get("geometries", []):
            b = geometry_bbox(g)
            xs.extend((b[0], b[2]))
            ys.extend((b[1], b[3]))
    else:
        walk(geometry.get("coordinates", []))
    if not xs:
        raise RecordError(f"published geometry of type {geometry.get('type')!r} has no coordinates")
    return [min(xs), min(ys), max(xs), max(ys)]


def footprint(files: Iterable[tuple[str, bytes]]) -> dict[str, Any] | None:
    """The bbox (a Polygon, or a Point when degenerate) of the features of the GeoJSON files
    among ``(name, bytes)``, rounded to 6 decimals; None when there is none."""
    boxes: list[list[float]] = []
    for name, data in files:
        if Path(name).suffix not in (".geojson", ".json"):
            continue
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        for feature in doc.get("features", []) if isinstance(doc, dict) else []:
            geom = (feature or {}).get("geometry") if isinstance(feature, dict) else None
            if geom:
                with contextlib.suppress(RecordError):  # a suppressed feature has no coordinates
                    boxes.append(geometry_bbox(geom))
    if not boxes:
        return None
    w, s, e, n = (
        round(v, 6)
        for v in (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    )
    if w == e and s == n:
        return {"type": "Point", "coordinates": [w, s]}
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
