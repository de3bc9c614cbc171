"""The AOIs the pipeline partitions by: counties of the AOI registry (``data/aoi/``).

One small function, :func:`load_counties`, so that the source of the AOI list can change
(e.g. another registry kind) without touching the assets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kfm_gate.errors import InputError

AOI_DIR = "data/aoi"
COUNTY_PREFIX = "ks-county-"


@dataclass(frozen=True)
class County:
    """One county AOI: registry id, GEOID, name, and its polygon (shapely)."""

    aoi_id: str
    geoid: str
    name: str
    geometry: object  # shapely geometry (kept untyped: shapely has no stubs)


def load_counties(root: Path) -> tuple[County, ...]:
    """Every county of the AOI registry under ``root/data/aoi``, sorted by id."""
    folder = (root / AOI_DIR).resolve()
    registry_file = folder / "aoi_registry.geojson"
    if not registry_file.is_file():
        raise InputError(
            f"no AOI registry at {registry_file}: the pipeline partitions by its counties; "
            "build it with `python -m kfm_gate.geo.build_registry` or restore data/aoi/"
        )
    stat = registry_file.stat()
    return _load(str(registry_file), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int, _size: int) -> tuple[County, ...]:
    from kfm_gate.geo.registry import load_aoi_registry

    registry = load_aoi_registry(Path(path))
    out = []
    for aoi_id in registry.ids():
        entry = registry.get(aoi_id)
        if entry.aoi.kind != "county" or not aoi_id.startswith(COUNTY_PREFIX):
            continue
        out.append(
            County(
                aoi_id=aoi_id,
                geoid=aoi_id.removeprefix(COUNTY_PREFIX),
                name=entry.aoi.name,
                geometry=entry.geometry,
            )
        )
    if not out:
        raise InputError(f"the AOI registry {path} has no county (ids {COUNTY_PREFIX}<GEOID>)")
    return tuple(out)


def county_ids(root: Path) -> tuple[str, ...]:
    """The AOI ids of every county (the AOI dimension of the partitions)."""
    return tuple(c.aoi_id for c in load_counties(root))
