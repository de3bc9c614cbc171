"""Shared model configuration: frozen, no unknown fields, a schema version on every document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = "1"

#: a JSON value, as policies and records see it
JsonValue = Any


class KfmModel(BaseModel):
    """Base of every kfm-gate model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums and dates as strings, ``None`` fields kept)."""
        return self.model_dump(mode="json", by_alias=True)
