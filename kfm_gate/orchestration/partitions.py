"""Partitions: AOI (dynamic, from the AOI registry) x day (daily, UTC).

The AOI dimension is dynamic so that AOIs registered after deployment become partitions at
run time (the source sensor adds every registry county it has not seen). Dimension names sort
``aoi`` before ``day``, so the string form of a key is ``<aoi_key>|<YYYY-MM-DD>``, the same as
:func:`kfm_gate.ids.partition_key`.

Dagster hands an asset the key as a ``MultiPartitionKey`` in most contexts and as a plain
``str`` under ``dagster job execute``: :func:`parse_partition` accepts both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from kfm_gate.errors import PartitionKeyError
from kfm_gate.ids import parse_partition_key, validate_aoi_key, validate_time_key

AOI_DIMENSION = "aoi"
DAY_DIMENSION = "day"
AOI_PARTITIONS_NAME = "kfm_aoi"
#: first day of the daily dimension (the demo survey starts here)
START_DATE = "2026-11-01"

aoi_partitions = dg.DynamicPartitionsDefinition(name=AOI_PARTITIONS_NAME)


def build_partitions_def(start_date: str = START_DATE) -> dg.MultiPartitionsDefinition:
    """AOI x day partitions; days are UTC calendar days from ``start_date``."""
    validate_time_key(start_date)
    return dg.MultiPartitionsDefinition(
        {
            AOI_DIMENSION: aoi_partitions,
            DAY_DIMENSION: dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC"),
        }
    )


partitions_def = build_partitions_def()


@dataclass(frozen=True)
class PartitionRef:
    """A parsed AOI x day partition."""

    aoi_key: str
    day: str

    @property
    def key(self) -> str:
        return f"{self.aoi_key}|{self.day}"

    def multi_key(self) -> dg.MultiPartitionKey:
        return dg.MultiPartitionKey({AOI_DIMENSION: self.aoi_key, DAY_DIMENSION: self.day})


def parse_partition(key: Any) -> PartitionRef:
    """The AOI and day of a partition key, whether Dagster gives a ``MultiPartitionKey`` or a
    ``str`` (``<aoi>|<day>``). Grammar-checked; PartitionKeyError otherwise.
    """
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        try:
            aoi, day = dims[AOI_DIMENSION], dims[DAY_DIMENSION]
        except KeyError as err:
            raise PartitionKeyError(
                f"partition key {str(key)!r} has dimensions {sorted(dims)}; expected "
                f"{AOI_DIMENSION!r} and {DAY_DIMENSION!r}"
            ) from err
        validate_aoi_key(aoi)
        validate_time_key(day)
        return PartitionRef(aoi, day)
    if isinstance(key, str):
        aoi, day = parse_partition_key(key)
        return PartitionRef(aoi, day)
    raise PartitionKeyError(
        f"partition key {key!r} is a {type(key).__name__}; expected a str or MultiPartitionKey"
    )


def context_partition(context: Any) -> PartitionRef:
    """The partition of an asset or check execution context (fails if it has none)."""
    if not getattr(context, "has_partition_key", False):
        raise PartitionKeyError(
            "this step runs without a partition: launch it for one AOI x day partition "
            "(e.g. --partition 'ks-county-20045|2026-11-01'); gate one partition per run"
        )
    return parse_partition(context.partition_key)
