from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from kfm_gate.models import GovernanceFlags, join_flags


def _flags(**kw: object) -> GovernanceFlags:
    base: dict[str, object] = {"classification": "public", "sensitivity": "public"}
    base.update(kw)
    return GovernanceFlags.model_validate(base)


def test_join_is_most_restrictive_and_keeps_origins() -> None:
    a = _flags(licenses=["CC-BY-4.0"], tk_labels=["tka"], embargo_until="2026-12-01").with_origin(
        "input:a"
    )
    b = _flags(
        classification="restricted",
        sensitivity="sensitive_location",
        care_class="sacred",
        indigenous_rights_flag=True,
        sovereignty_authorities=["Kickapoo Tribe in Kansas"],
        tk_labels=["tkss"],
        bc_labels=["bcr"],
        notices=["traditional_knowledge"],
        licenses=["LicenseRef-KFM-Community-Terms"],
        embargo_until="2027-01-01",
    ).with_origin("zone:kickapoo")
    j = join_flags([a, b])
    assert j.classification == "restricted"
    assert j.sensitivity == "sensitive_location"
    assert j.care_class == "sacred"
    assert j.indigenous_rights_flag is True
    assert j.tk_labels == ("tka", "tkss")
    assert j.licenses == ("CC-BY-4.0", "LicenseRef-KFM-Community-Terms")
    assert j.embargo_until == dt.date(2027, 1, 1)
    assert j.origins["classification"] == ("zone:kickapoo",)
    assert j.origins["tk_labels:tka"] == ("input:a",)
    assert j.origins["tk_labels:tkss"] == ("zone:kickapoo",)
    assert j.origins["embargo_until"] == ("zone:kickapoo",)


def test_join_is_order_independent() -> None:
    a = _flags(tk_labels=["tkv"]).with_origin("input:a")
    b = _flags(classification="internal", tk_labels=["tka"]).with_origin("input:b")
    assert join_flags([a, b]) == join_flags([b, a])


def test_unknown_dominates_the_join() -> None:
    j = join_flags([_flags(classification="restricted"), _flags(classification="unknown")])
    assert j.classification == "unknown"


def test_join_needs_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        join_flags([])


def test_sets_are_sorted_and_unique() -> None:
    assert _flags(tk_labels=["tkv", "tka", "tkv"]).tk_labels == ("tka", "tkv")


def test_models_are_frozen_and_strict() -> None:
    f = _flags()
    with pytest.raises(ValidationError):
        f.classification = "restricted"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        _flags(colour="red")
    with pytest.raises(ValidationError):
        _flags(classification="secret-ish")
