"""The promotion request an asset submits for one partition."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from kfm_gate.errors import InputError
from kfm_gate.ids import DIGEST_RE, digest, validate_aoi_key, validate_time_key
from kfm_gate.limits import LIMITS, check_document, load_json
from kfm_gate.models.base import KfmModel, Text, describe_validation_error
from kfm_gate.models.flags import GovernanceFlags

#: largest string accepted in any request field; a larger one is refused as bad input
MAX_STRING = LIMITS.string_chars
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

    aoi_key: Text
    time_key: Text

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

    id: Text = Field(max_length=512)
    kind: Literal["stac_item", "source_manifest", "asset"] = "source_manifest"
    sha256: Text
    version: Text | None = Field(default=None, max_length=128)
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

    path: Text = Field(max_length=1024)
    sha256: Text | None = None
    media_type: Text = Field(default="application/octet-stream", max_length=128)
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
    asset_key: Text = Field(max_length=256, description="e.g. kfm/historic_sites/public")
    pipeline: Text
    dataset: Text
    partition: Partition
    code_ref: Text | None = Field(default=None, max_length=128, description="git SHA of the code")
    container_digest: Text | None = Field(default=None, max_length=256)
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: tuple[InputRef, ...]
    outputs: tuple[OutputRef, ...]
    collection: Text | None = Field(
        default=None, description="STAC collection id; default: dataset"
    )

    @classmethod
    def from_raw(cls, raw: bytes | str | Mapping[str, Any]) -> PromotionRequest:
        """A request from JSON bytes or text (read within :data:`kfm_gate.limits.LIMITS`)
        or a dict (checked against the same limits); InputError (LimitError for a limit)
        naming every invalid field and its expected type."""
        if isinstance(raw, bytes | str):
            doc: Any = load_json(raw, "request")
        else:
            doc = raw
            check_document(doc, "request")
        if not isinstance(doc, Mapping):
            raise InputError("request must be a JSON object (see docs/policy-input.md)")
        try:
            return cls.model_validate(doc)
        except ValidationError as err:
            raise InputError(describe_validation_error(err, "request")) from err

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
        check_document(value, "params")
        return value

    @cached_property
    def request_digest(self) -> str:
        """Digest of the canonical request (computed once per request object)."""
        return digest(self.to_json_dict())

    def input_checksums(self) -> dict[str, str]:
        """``{input id: sha256}`` for the run id."""
        return {i.id: i.sha256 for i in self.inputs}
