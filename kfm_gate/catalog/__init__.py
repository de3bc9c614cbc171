"""Catalogs of published partitions: STAC, DCAT and the lineage graph."""

from __future__ import annotations

from kfm_gate.catalog.graph import (
    GraphSink,
    RdfGraphSink,
    diff_partitions,
    lineage_walk,
)
from kfm_gate.catalog.stac import StacWriter, validate_stac, write_stac_item

__all__ = [
    "GraphSink",
    "RdfGraphSink",
    "StacWriter",
    "diff_partitions",
    "lineage_walk",
    "validate_stac",
    "write_stac_item",
]
