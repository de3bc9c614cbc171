"""AOI and sensitive-zone registries: loading, validation, and the point/geometry-to-zone join.

A registry is a GeoJSON FeatureCollection in EPSG:4326 (lon, lat) with a ``kfm:registry``
member declaring its id, kind (``aoi`` or ``zones``) and CRS. On load every entry is checked:
unique stable ids, the declared CRS, polygonal geometry, known flags and Local Contexts
identifiers. An invalid geometry is repaired (``shapely.make_valid``, polygonal parts kept)
with a recorded :class:`RegistryWarning`, or refused, per ``invalid_geometry``.

Warnings name the entry and the kind of defect, never a coordinate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic import ValidationError
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from kfm_gate.errors import InputError, PartitionKeyError
from kfm_gate.ids import AOI_KEY_RE, sha256_bytes
from kfm_gate.models import Aoi, GovernanceFlags
from kfm_gate.models.base import describe_validation_error, validation_problems

InvalidPolicy = Literal["repair", "refuse"]
#: CRS names accepted as "EPSG:4326, longitude first"
ACCEPTED_CRS = frozenset({"EPSG:4326", "OGC:CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84"})
#: masking tiers a zone may name (their parameters live in policies/data/geo.json)
TIERS: tuple[str, ...] = ("public", "community", "sensitive", "sacred")
ZONE_KINDS = ("tribal_area", "sensitive_site")
ZONE_ID_RE = AOI_KEY_RE
AOI_FILE = "aoi_registry.geojson"
ZONE_FILE = "zone_registry.geojson"
VOCAB_FILE = "localcontexts_vocab.json"
#: zones at most this many are joined zone by zone; more go through an STRtree
_LOOP_ZONES = 32

_TO_5070 = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
_FROM_5070 = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class RegistryWarning:
    """Something the loader repaired: which registry, which entry, what (never a coordinate)."""

    registry: str
    item_id: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "registry": self.registry,
            "item_id": self.item_id,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class AoiEntry:
    """One AOI: its model (id, name, kind, flags) and its polygonal geometry."""

    aoi: Aoi
    geometry: BaseGeometry
    demo: bool = False

    @property
    def aoi_id(self) -> str:
        return self.aoi.aoi_id


@dataclass(frozen=True)
class Zone:
    """A sensitive zone with its sovereignty flags.

    ``search_geometry`` is the zone buffered by ``buffer_m`` metres (EPSG:5070): a feature
    touches the zone when it intersects the buffered shape.
    """

    zone_id: str
    name: str
    kind: str
    geometry: BaseGeometry
    search_geometry: BaseGeometry
    authority: tuple[str, ...]
    care_class: str
    masking_tier: str
    buffer_m: float
    flags: GovernanceFlags
    schematic: bool
    demo: bool

    def context(self, feature_count: int) -> dict[str, Any]:
        """The zone as the policy sees it: flags and a feature count, never a coordinate."""
        return {
            "zone_id": self.zone_id,
            "name": self.name,
            "kind": self.kind,
            "feature_count": feature_count,
            "masking_tier": self.masking_tier,
            "care_class": self.care_class,
            "authority": list(self.authority),
            "tk_labels": list(self.flags.tk_labels),
            "bc_labels": list(self.flags.bc_labels),
            "notices": list(self.flags.notices),
            "indigenous_rights_flag": self.flags.indigenous_rights_flag,
            "buffer_m": self.buffer_m,
            "schematic": self.schematic,
            "demo": self.demo,
        }


@dataclass(frozen=True)
class AoiRegistry:
    """The AOIs partition keys refer to."""

    registry_id: str
    digest: str
    entries: Mapping[str, AoiEntry]
    warnings: tuple[RegistryWarning, ...] = ()

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.entries))

    def get(self, aoi_id: str) -> AoiEntry:
        """The AOI of a partition key; unknown ids are refused with the fix."""
        try:
            return self.entries[aoi_id]
        except KeyError as err:
            raise PartitionKeyError(
                f"aoi_key {aoi_id!r} is not in the AOI registry {self.registry_id} "
                f"({len(self.entries)} AOIs, e.g. ks-county-20045); add it to data/aoi/"
                f"{AOI_FILE} or use a registered id"
            ) from err


@dataclass(frozen=True)
class ZoneRegistry:
    """The sensitive zones and a spatial index over their buffered shapes."""

    registry_id: str
    digest: str
    zones: tuple[Zone, ...]
    warnings: tuple[RegistryWarning, ...] = ()
    _tree: shapely.STRtree = field(init=False, repr=False, compare=False)
    _bounds: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        geoms = np.array([z.search_geometry for z in self.zones], dtype=object)
        shapely.prepare(geoms)
        object.__setattr__(self, "_tree", shapely.STRtree(geoms))
        bounds = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
        object.__setattr__(self, "_bounds", np.asarray(bounds, dtype=np.float64))

    def get(self, zone_id: str) -> Zone:
        for zone in self.zones:
            if zone.zone_id == zone_id:
                return zone
        raise InputError(f"zone {zone_id!r} is not in the zone registry {self.registry_id}")

    def join_points(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Pairs (point index, zone index) of points touching a zone, sorted; vectorized."""
        empty = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))
        if not self.zones or lon.size == 0:
            return empty
        b = self._bounds
        cand = np.flatnonzero(
            (lon >= b[:, 0].min())
            & (lon <= b[:, 2].max())
            & (lat >= b[:, 1].min())
            & (lat <= b[:, 3].max())
        )
        if cand.size == 0:
            return empty
        clon, clat = lon[cand], lat[cand]
        feats: list[NDArray[np.intp]] = []
        zones: list[NDArray[np.intp]] = []
        if len(self.zones) <= _LOOP_ZONES:
            for zi, zone in enumerate(self.zones):
                x0, y0, x1, y1 = b[zi]
                sub = np.flatnonzero((clon >= x0) & (clon <= x1) & (clat >= y0) & (clat <= y1))
                if sub.size == 0:
                    continue
                hit = sub[shapely.intersects_xy(zone.search_geometry, clon[sub], clat[sub])]
                feats.append(cand[hit])
                zones.append(np.full(hit.size, zi, dtype=np.intp))
        else:
            pi, zi_arr = self._tree.query(shapely.points(clon, clat), predicate="intersects")
            feats.append(cand[pi])
            zones.append(zi_arr.astype(np.intp))
        if not feats:
            return empty
        f = np.concatenate(feats)
        z = np.concatenate(zones)
        order = np.lexsort((z, f))
        return f[order], z[order]

    def join_geometries(
        self, geoms: NDArray[np.object_]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Pairs (geometry index, zone index) of geometries touching a zone, sorted."""
        if not self.zones or len(geoms) == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        gi, zi = self._tree.query(geoms, predicate="intersects")
        order = np.lexsort((zi, gi))
        return gi[order].astype(np.intp), zi[order].astype(np.intp)


@dataclass(frozen=True)
class Registries:
    """Both registries, as the gate, the masking engine and the verification use them."""

    aoi: AoiRegistry
    zones: ZoneRegistry

    @property
    def warnings(self) -> tuple[RegistryWarning, ...]:
        return self.aoi.warnings + self.zones.warnings

    def summary(self) -> dict[str, Any]:
        """Registry ids, digests and repair warnings, for the geo context and provenance."""
        return {
            "aoi_registry": {"id": self.aoi.registry_id, "digest": self.aoi.digest},
            "zone_registry": {"id": self.zones.registry_id, "digest": self.zones.digest},
            "warnings": [w.to_dict() for w in self.warnings],
        }


# -- loading -----------------------------------------------------------------------------


def _read_collection(path: Path, kind: str) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(
            f"cannot read the {kind} registry {path}: {err.strerror}; regenerate it with "
            "`python -m kfm_gate.geo.build_registry`"
        ) from err
    try:
        doc = json.loads(raw, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise InputError(f"{kind} registry {path} is not valid JSON: {err}") from err
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError(f"{kind} registry {path} must be a GeoJSON FeatureCollection")
    meta = doc.get("kfm:registry")
    if not isinstance(meta, dict) or not isinstance(meta.get("id"), str):
        raise InputError(
            f"{kind} registry {path} has no 'kfm:registry' member with an 'id': declare "
            '{"id": ..., "kind": ..., "crs": "EPSG:4326"}'
        )
    if meta.get("kind") != kind:
        raise InputError(
            f"{path} declares kfm:registry.kind {meta.get('kind')!r}; expected {kind!r}"
        )
    crs = meta.get("crs")
    if crs not in ACCEPTED_CRS:
        raise InputError(
            f"{kind} registry {path} declares CRS {crs!r}; registries must be EPSG:4326 "
            "(lon, lat): reproject it and set kfm:registry.crs to 'EPSG:4326'"
        )
    legacy = doc.get("crs")
    if legacy is not None and _legacy_crs_name(legacy) not in ACCEPTED_CRS:
        raise InputError(
            f"{kind} registry {path} carries a second CRS {_legacy_crs_name(legacy)!r} in its "
            "'crs' member; remove it (registries are EPSG:4326)"
        )
    if not isinstance(doc.get("features"), list):
        raise InputError(f"{kind} registry {path} has no 'features' list")
    return doc, raw


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _legacy_crs_name(member: Any) -> str:
    if isinstance(member, dict):
        props = member.get("properties")
        if isinstance(props, dict) and isinstance(props.get("name"), str):
            name = str(props["name"])
            if name.endswith("CRS84"):
                return "OGC:CRS84"
            if name.replace("::", ":").endswith("EPSG:4326"):
                return "EPSG:4326"
            return name
    return repr(member)


def _geometry(
    feature: Mapping[str, Any],
    item_id: str,
    registry: str,
    invalid: InvalidPolicy,
    warnings: list[RegistryWarning],
) -> BaseGeometry:
    gj = feature.get("geometry")
    if not isinstance(gj, dict) or gj.get("type") not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"{registry} entry {item_id!r}: geometry must be a Polygon or MultiPolygon"
        )
    try:
        geom = shapely.geometry.shape(gj)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as err:
        raise InputError(f"{registry} entry {item_id!r}: unreadable geometry ({err})") from err
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not np.isfinite(coords).all():
        raise InputError(f"{registry} entry {item_id!r}: geometry is empty or not finite")
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise InputError(
            f"{registry} entry {item_id!r}: coordinates out of lon/lat range; registries are "
            "EPSG:4326 with longitude first"
        )
    if geom.is_valid:
        return geom
    reason = str(shapely.is_valid_reason(geom)).split("[", 1)[0].strip()
    if invalid == "refuse":
        raise InputError(
            f"{registry} entry {item_id!r}: invalid geometry ({reason}); repair it in the "
            "registry or load with invalid_geometry='repair'"
        )
    repaired = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(repaired) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygonal = shapely.union_all(parts) if parts else shapely.Polygon()
    if polygonal.is_empty or not polygonal.is_valid:
        raise InputError(
            f"{registry} entry {item_id!r}: invalid geometry ({reason}) could not be repaired "
            "into a polygon; fix it in the registry"
        )
    warnings.append(
        RegistryWarning(
            registry=registry,
            item_id=item_id,
            code="GEOMETRY_REPAIRED",
            message=f"invalid geometry ({reason}) repaired with make_valid (polygonal parts)",
        )
    )
    return polygonal


def _unique_id(item_id: Any, seen: set[str], registry: str, pattern_name: str) -> str:
    if not isinstance(item_id, str) or not AOI_KEY_RE.match(item_id):
        raise InputError(
            f"{registry}: {pattern_name} {item_id!r} is not a stable registry id (lowercase "
            "letters, digits and '-', e.g. ks-county-20045)"
        )
    if item_id in seen:
        raise InputError(
            f"{registry}: {pattern_name} {item_id!r} appears twice; ids must be unique"
        )
    seen.add(item_id)
    return item_id


def load_aoi_registry(path: Path, *, invalid_geometry: InvalidPolicy = "repair") -> AoiRegistry:
    """Load and validate the AOI registry (see the module docstring)."""
    doc, raw = _read_collection(path, "aoi")
    registry_id = doc["kfm:registry"]["id"]
    warnings: list[RegistryWarning] = []
    entries: dict[str, AoiEntry] = {}
    seen: set[str] = set()
    for row, feature in enumerate(doc["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise InputError(f"{path}: feature {row} has no properties")
        aoi_id = _unique_id(props.get("aoi_id"), seen, registry_id, "aoi_id")
        if feature.get("id") not in (None, aoi_id):
            raise InputError(
                f"{path}: feature {row} has id {feature.get('id')!r} != aoi_id {aoi_id!r}"
            )
        geom = _geometry(feature, aoi_id, registry_id, invalid_geometry, warnings)
        demo_problems: list[str] = []
        demo = _bool_prop(props, "demo", f"AOI {aoi_id}", demo_problems)
        try:
            aoi = Aoi(
                aoi_id=aoi_id,
                name=props.get("name", ""),
                kind=props.get("kind", "county"),
                flags=props.get("flags"),
                bbox=tuple(float(v) for v in shapely.bounds(geom)),
            )
        except ValidationError as err:
            raise InputError(
                describe_validation_error(err, f"{path}: AOI {aoi_id!r}")
                + "".join(f"; {p}" for p in demo_problems)
            ) from err
        if demo_problems:
            raise InputError(f"{path}: {'; '.join(demo_problems)}")
        entries[aoi_id] = AoiEntry(aoi=aoi, geometry=geom, demo=demo)
    if not entries:
        raise InputError(f"AOI registry {path} has no entries")
    return AoiRegistry(
        registry_id=registry_id,
        digest=sha256_bytes(raw),
        entries=dict(sorted(entries.items())),
        warnings=tuple(warnings),
    )


def load_vocabulary(path: Path) -> dict[str, frozenset[str]]:
    """Local Contexts identifiers: ``{"tk_labels", "bc_labels", "notices"} -> codes``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {
            "tk_labels": frozenset(x["labelCode"] for x in doc["tk_labels"]),
            "bc_labels": frozenset(x["labelCode"] for x in doc["bc_labels"]),
            "notices": frozenset(x["noticeType"] for x in doc["notices"]),
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(
            f"cannot read the Local Contexts vocabulary {path}: {err}; it lists the TK/BC "
            "label codes and notice types zones may carry"
        ) from err


def _str_tuple(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{where} must be a string or a list of strings")


def buffer_metres(geom: BaseGeometry, metres: float) -> BaseGeometry:
    """``geom`` buffered by ``metres`` in EPSG:5070, returned in EPSG:4326."""
    if metres <= 0:
        return geom
    projected = shapely.transform(geom, _project_5070)
    buffered = shapely.buffer(projected, metres, quad_segs=16)
    return shapely.transform(buffered, _unproject_5070)


def _project_5070(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = _TO_5070.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _unproject_5070(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = _FROM_5070.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def load_zone_registry(
    path: Path,
    *,
    invalid_geometry: InvalidPolicy = "repair",
    vocabulary: Mapping[str, frozenset[str]] | None = None,
) -> ZoneRegistry:
    """Load and validate the sensitive-zone registry (see the module docstring)."""
    doc, raw = _read_collection(path, "zones")
    registry_id = doc["kfm:registry"]["id"]
    warnings: list[RegistryWarning] = []
    zones: list[Zone] = []
    seen: set[str] = set()
    problems: list[str] = []
    for row, feature in enumerate(doc["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise InputError(f"{path}: feature {row} has no properties")
        zone_id = _unique_id(props.get("zone_id"), seen, registry_id, "zone_id")
        zone = _zone(feature, props, zone_id, registry_id, invalid_geometry, vocabulary, warnings)
        if isinstance(zone, Zone):
            zones.append(zone)
        else:
            problems.extend(zone)
    if problems:
        raise InputError(
            f"zone registry {path}: {len(problems)} invalid field(s): " + "; ".join(problems)
        )
    zones.sort(key=lambda z: z.zone_id)
    return ZoneRegistry(
        registry_id=registry_id,
        digest=sha256_bytes(raw),
        zones=tuple(zones),
        warnings=tuple(warnings),
    )


def _bool_prop(props: Mapping[str, Any], name: str, where: str, problems: list[str]) -> bool:
    """A boolean property (default false): a JSON boolean only, never ``"false"`` or ``0``."""
    value = props.get(name, False)
    if not isinstance(value, bool):
        problems.append(f"{where}.{name}: expected a JSON boolean (true or false), got {value!r}")
        return True  # never read as false
    return value


def _zone(
    feature: Mapping[str, Any],
    props: Mapping[str, Any],
    zone_id: str,
    registry_id: str,
    invalid_geometry: InvalidPolicy,
    vocabulary: Mapping[str, frozenset[str]] | None,
    warnings: list[RegistryWarning],
) -> Zone | list[str]:
    """One zone, or every problem of its properties (strict: no coercion, enums exact)."""
    where = f"zone {zone_id}"
    problems: list[str] = []
    geom = _geometry(feature, zone_id, registry_id, invalid_geometry, warnings)
    kind = props.get("kind")
    if kind not in ZONE_KINDS:
        problems.append(f"{where}.kind: {kind!r} must be one of {', '.join(ZONE_KINDS)}")
    tier = props.get("masking_tier")
    if tier not in TIERS:
        problems.append(f"{where}.masking_tier: {tier!r} must be one of {', '.join(TIERS)}")
    buffer_m = props.get("buffer_m", 0)
    if (
        isinstance(buffer_m, bool)
        or not isinstance(buffer_m, int | float)
        or not 0 <= buffer_m <= 100_000
    ):
        problems.append(f"{where}.buffer_m: {buffer_m!r} must be metres in [0, 100000]")
        buffer_m = 0
    name = props.get("name", zone_id)
    if not isinstance(name, str):
        problems.append(f"{where}.name: expected a string, got {type(name).__name__}")
    try:
        authority = _str_tuple(props.get("authority"), f"{where}.authority")
    except InputError as err:
        problems.append(str(err))
        authority = ()
    if not authority and not any(p.startswith(f"{where}.authority") for p in problems):
        problems.append(f"{where}.authority: required (who governs this zone)")
    labels: dict[str, tuple[str, ...]] = {}
    for label in ("tk_labels", "bc_labels", "notices"):
        try:
            labels[label] = _str_tuple(props.get(label), f"{where}.{label}")
        except InputError as err:
            problems.append(str(err))
            labels[label] = ()
        if vocabulary is not None:
            unknown = sorted(set(labels[label]) - vocabulary[label])
            if unknown:
                problems.append(
                    f"{where}: unknown Local Contexts {label} {unknown}; use the codes "
                    f"of data/aoi/{VOCAB_FILE}"
                )
    indigenous = _bool_prop(props, "indigenous_rights_flag", where, problems)
    schematic = _bool_prop(props, "schematic", where, problems)
    demo = _bool_prop(props, "demo", where, problems)
    try:
        flags = GovernanceFlags(
            classification=props.get("classification", "public"),
            sensitivity=props.get("sensitivity", "sensitive_location"),
            care_class=props.get("care_class", "sensitive"),
            indigenous_rights_flag=indigenous,
            sovereignty_authorities=authority,
            **labels,
        )
    except ValidationError as err:
        problems.extend(f"{where}.{p}" for p in validation_problems(err))
    if problems:
        return problems
    return Zone(
        zone_id=zone_id,
        name=str(name),
        kind=str(kind),
        geometry=geom,
        search_geometry=buffer_metres(geom, float(buffer_m)),
        authority=authority,
        care_class=flags.care_class,
        masking_tier=str(tier),
        buffer_m=float(buffer_m),
        flags=flags,
        schematic=schematic,
        demo=demo,
    )


def load_registries(folder: Path, *, invalid_geometry: InvalidPolicy = "repair") -> Registries:
    """Both registries from ``folder`` (normally ``<repo>/data/aoi``)."""
    vocab_path = folder / VOCAB_FILE
    vocabulary = load_vocabulary(vocab_path) if vocab_path.exists() else None
    return Registries(
        aoi=load_aoi_registry(folder / AOI_FILE, invalid_geometry=invalid_geometry),
        zones=load_zone_registry(
            folder / ZONE_FILE, invalid_geometry=invalid_geometry, vocabulary=vocabulary
        ),
    )


def zone_indices(zones: Sequence[Zone], zone_ids: Sequence[str] | None) -> NDArray[np.intp] | None:
    """Indices of ``zone_ids`` in ``zones`` (``None`` stays ``None``: every zone)."""
    if zone_ids is None:
        return None
    index = {z.zone_id: i for i, z in enumerate(zones)}
    return np.array(sorted(index[z] for z in zone_ids if z in index), dtype=np.intp)
