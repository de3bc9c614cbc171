"""Catalogs of published partitions: STAC, DCAT and the lineage graph (builders; the
publisher of :mod:`kfm_gate.publication` writes them)."""

from __future__ import annotations

from kfm_gate.catalog.graph import (
    GraphSink,
    RdfGraphSink,
    diff_partitions,
    lineage_walk,
)
from kfm_gate.catalog.stac import StacWriter, validate_stac

__all__ = [
    "GraphSink",
    "RdfGraphSink",
    "StacWriter",
    "diff_partitions",
    "lineage_walk",
    "validate_stac",
]
