"""AOI and sensitive-zone registries, masking and generalization, and geo verification.

Imports shapely, numpy, pyproj at module level: import this package lazily from the CLI.
"""

from __future__ import annotations

from kfm_gate.geo.context import build_geo_context
from kfm_gate.geo.features import FeatureSet, read_feature_collection, read_request_features
from kfm_gate.geo.keys import MaskKey, load_mask_key
from kfm_gate.geo.masking import MaskingEngine, parse_specs
from kfm_gate.geo.registry import Registries, load_registries
from kfm_gate.geo.verification import GeoVerificationCollector

__all__ = [
    "FeatureSet",
    "GeoVerificationCollector",
    "MaskKey",
    "MaskingEngine",
    "Registries",
    "build_geo_context",
    "load_mask_key",
    "load_registries",
    "parse_specs",
    "read_feature_collection",
    "read_request_features",
]
