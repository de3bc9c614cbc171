"""Strict governance values (issue #12, item 1): no coercion, exact enums, every field named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kfm_gate import parse_request
from kfm_gate.errors import InputError
from kfm_gate.models import GovernanceFlags, SourceManifest, Waiver
from kfm_gate.models.base import describe_validation_error
from tests.helpers import ZERO, dump, public_flags

BASE: dict[str, Any] = {
    "asset_key": "kfm/historic_sites/public",
    "pipeline": "survey",
    "dataset": "historic_sites",
    "partition": {"aoi_key": "ks-county-20045", "time_key": "2026-11-01"},
    "inputs": [{"id": "src:demo", "sha256": ZERO, "flags": public_flags()}],
    "outputs": [{"path": "data/processed/x/sites.geojson"}],
}


@pytest.mark.parametrize("value", ["false", "no", "0", 0, 1, 0.0, "true", None, [], {}])
def test_indigenous_rights_flag_is_a_json_boolean_only(value: Any) -> None:
    """``"false"``, ``"no"`` and ``0`` were read as false and the partition was allowed."""
    doc = {
        **BASE,
        "inputs": [{**BASE["inputs"][0], "flags": public_flags(indigenous_rights_flag=value)}],
    }
    with pytest.raises(InputError) as info:
        parse_request(dump(doc))
    message = str(info.value)
    assert (
        "inputs[0].flags.indigenous_rights_flag: expected a JSON boolean (true or false)" in message
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("classification", "Public"),
        ("classification", " public"),
        ("sensitivity", "PUBLIC"),
        ("care_class", 0),
        ("embargo_until", 0),
        ("embargo_until", 1767225600),
        ("embargo_until", "2027-01-01T00:00:00Z"),
        ("embargo_until", "2027-02-30"),
        ("licenses", "CC-BY-4.0"),
        ("tk_labels", [1]),
        ("sovereignty_authorities", [True]),
    ],
)
def test_flag_values_are_exact(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        GovernanceFlags.model_validate(public_flags(**{field: value}))
    assert field in describe_validation_error(info.value, "flags")


def test_accepted_values_are_kept_exactly() -> None:
    flags = GovernanceFlags.model_validate(
        public_flags(indigenous_rights_flag=True, embargo_until="2027-01-01", tk_labels=["tkss"])
    )
    assert flags.indigenous_rights_flag is True
    assert flags.embargo_until is not None and flags.embargo_until.isoformat() == "2027-01-01"


def test_every_invalid_field_is_listed_not_and_n_more() -> None:
    doc = {
        **BASE,
        "schema_version": 1,
        "partition": {"aoi_key": 20045, "time_key": 20261101},
        "inputs": [
            {
                "id": "src:demo",
                "sha256": ZERO,
                "kind": "manifest",
                "flags": public_flags(indigenous_rights_flag="no", classification="Public"),
            }
        ],
        "outputs": [{"path": "data/x.geojson", "role": "Data"}],
    }
    with pytest.raises(InputError) as info:
        parse_request(dump(doc))
    message = str(info.value)
    assert "more)" not in message
    for field in (
        "schema_version",
        "partition.aoi_key",
        "partition.time_key",
        "inputs[0].kind",
        "inputs[0].flags.indigenous_rights_flag",
        "inputs[0].flags.classification",
        "outputs[0].role",
    ):
        assert field in message, (field, message)
    assert message.startswith("request: 7 invalid field(s):")
    assert "\n" not in message


def test_manifest_rights_and_sensitivity_are_strict() -> None:
    base = {
        "source_id": "src",
        "title": "t",
        "rights": {"rights_status": "verified_open", "license_or_terms": "CC-BY-4.0"},
        "source_head": {"content_identity": {"content_sha256": ZERO}},
    }
    SourceManifest.model_validate(base)
    for patch in (
        {"rights": {**base["rights"], "redistribution_allowed": "yes"}},
        {"rights": {**base["rights"], "rights_status": "Verified_Open"}},
        {"sensitivity_default": "secret"},
        {"watermark": "2026-13-01"},
        {"source_head": {"content_identity": {"content_sha256": "abc"}}},
    ):
        with pytest.raises(ValidationError):
            SourceManifest.model_validate({**base, **patch})


@pytest.mark.parametrize(
    ("field", "value"),
    [("approver", "   "), ("approver", "--"), ("reason", "  -- "), ("created", 0)],
)
def test_waiver_fields_are_checked_after_trimming(field: str, value: Any) -> None:
    doc = {
        "id": "w-1",
        "scope": {"asset": "*", "rules": ["integrity.code_ref"]},
        "reason": "legacy survey",
        "approver": "fair-care-council",
        "created": "2026-11-01",
        "expires": "2026-12-31",
    }
    Waiver.model_validate(doc)
    with pytest.raises(ValidationError):
        Waiver.model_validate({**doc, field: value})
