"""The policy's ``geo`` input: which AOI, which zones the features touch, how many per zone.

Counts, flags and registry ids only: never a coordinate. The zone flags (and the AOI's) come
back separately, attributed (``aoi:<id>``, ``zone:<id>``), for the gate to join into the
effective flags.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from kfm_gate.geo.features import FeatureSet, concat
from kfm_gate.geo.masking import zone_pairs_for
from kfm_gate.geo.registry import Registries
from kfm_gate.models import GovernanceFlags, PromotionRequest


def build_geo_context(
    request: PromotionRequest,
    features: FeatureSet | list[FeatureSet] | None,
    registries: Registries,
) -> tuple[dict[str, Any], list[GovernanceFlags]]:
    """``(geo, flags)``: the policy's ``input.geo`` and the AOI + zone flags to join.

    ``features`` is the partition's validated features (``None`` when it has no GeoJSON
    output: the AOI's flags still apply). Raises
    :class:`~kfm_gate.errors.PartitionKeyError` for an AOI that is not in the registry.
    """
    entry = registries.aoi.get(request.partition.aoi_key)
    fs = concat(features) if isinstance(features, list) else features
    flags: list[GovernanceFlags] = []
    if entry.aoi.flags is not None:
        flags.append(entry.aoi.flags.with_origin(f"aoi:{entry.aoi_id}"))
    geo: dict[str, Any] = {
        "aoi": {
            "aoi_id": entry.aoi_id,
            "kind": entry.aoi.kind,
            "name": entry.aoi.name,
            "demo": entry.demo,
        },
        "features_total": 0 if fs is None else len(fs),
        "features_outside_aoi": 0,
        "zones": [],
        "registry": registries.summary(),
    }
    if fs is None or len(fs) == 0:
        return geo, flags
    geo["features_outside_aoi"] = int(
        (~shapely.intersects_xy(entry.geometry, fs.lon, fs.lat)).sum()
    )
    feat_idx, zone_idx = zone_pairs_for(fs, registries)
    counts = np.bincount(zone_idx, minlength=len(registries.zones.zones))
    zones = registries.zones.zones
    for zi in np.flatnonzero(counts):
        zone = zones[int(zi)]
        geo["zones"].append(zone.context(int(counts[zi])))
        flags.append(zone.flags.with_origin(f"zone:{zone.zone_id}"))
    geo["features_in_zones"] = int(np.unique(feat_idx).size)
    return geo, flags
