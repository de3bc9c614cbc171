"""The promotion request an asset submits for one partition."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, field_validator

from kfm_gate.ids import DIGEST_RE, digest, validate_aoi_key, validate_time_key
from kfm_gate.models.base import KfmModel
from kfm_gate.models.flags import GovernanceFlags

#: largest string accepted in any request field; a larger one is refused as bad input
MAX_STRING = 64 * 1024
ASSET_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def _check_relpath(value: str) -> str:
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"path {value!r} is absolute: give it relative to the repository root")
    parts = value.replace("\\", "/").split("/")
    if any(p in ("..", "") for p in parts):
        raise ValueError(f"path {value!r} contains '..' or an empty segment")
    return value


class Partition(KfmModel):
    """An AOI x day partition: the AOI registry id and the UTC day."""

    aoi_key: str
    time_key: str

    @field_validator("aoi_key")
    @classmethod
    def _aoi(cls, value: str) -> str:
        return validate_aoi_key(value)

    @field_validator("time_key")
    @classmethod
    def _time(cls, value: str) -> str:
        validate_time_key(value)
        return value


class InputRef(KfmModel):
    """One input of the partition: a STAC item or a source manifest, its checksum and flags."""

    id: str = Field(max_length=512)
    kind: Literal["stac_item", "source_manifest", "asset"] = "source_manifest"
    sha256: str
    version: str | None = Field(default=None, max_length=128)
    flags: GovernanceFlags | None = Field(
        default=None, description="the input's governance flags; missing flags deny"
    )

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST_RE.match(value):
            raise ValueError(f"sha256 {value[:80]!r} is not 'sha256:<64 lowercase hex>'")
        return value


class OutputRef(KfmModel):
    """One candidate output file, relative to the repository root."""

    path: str = Field(max_length=1024)
    sha256: str | None = None
    media_type: str = Field(default="application/octet-stream", max_length=128)
    role: Literal["data", "metadata", "thumbnail", "overview"] = "data"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_relpath(value)

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST_RE.match(value):
            raise ValueError(f"sha256 {value[:80]!r} is not 'sha256:<64 lowercase hex>'")
        return value


class PromotionRequest(KfmModel):
    """What an asset submits to the gate for one partition."""

    schema_version: Literal["1"] = "1"
    asset_key: str = Field(max_length=256, description="e.g. kfm/historic_sites/public")
    pipeline: str
    dataset: str
    partition: Partition
    code_ref: str | None = Field(default=None, max_length=128, description="git SHA of the code")
    container_digest: str | None = Field(default=None, max_length=256)
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: tuple[InputRef, ...]
    outputs: tuple[OutputRef, ...]
    collection: str | None = Field(default=None, description="STAC collection id; default: dataset")

    @field_validator("asset_key")
    @classmethod
    def _asset(cls, value: str) -> str:
        if not ASSET_KEY_RE.match(value):
            raise ValueError(f"asset_key {value!r} must be lowercase segments joined by '/'")
        return value

    @field_validator("pipeline", "dataset")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r} must match {NAME_RE.pattern}")
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_sizes(value, "params")
        return value

    @cached_property
    def request_digest(self) -> str:
        """Digest of the canonical request (computed once per request object)."""
        return digest(self.to_json_dict())

    def input_checksums(self) -> dict[str, str]:
        """``{input id: sha256}`` for the run id."""
        return {i.id: i.sha256 for i in self.inputs}


def _check_sizes(value: Any, where: str) -> None:
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ValueError(
            f"{where} is a string of {len(value)} characters; the limit is {MAX_STRING}"
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_sizes(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_sizes(v, f"{where}[{i}]")
