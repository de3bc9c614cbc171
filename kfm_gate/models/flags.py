"""Governance flags and their join.

The effective flags of an output are the join of its inputs' flags, its AOI's flags and the
flags of every sensitive zone it touches. The join is the most restrictive: the highest
classification and sensitivity, ``indigenous_rights_flag`` OR-ed, labels, notices,
authorities and licences united, the latest embargo. ``origins`` keeps where each value came
from: key ``<field>`` for scalar flags, ``<field>:<value>`` for members of a set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator

from kfm_gate.models.base import Day, Flag, KfmModel, Text

Classification = Literal["public", "internal", "confidential", "restricted", "unknown"]
Sensitivity = Literal[
    "public",
    "low",
    "generalized",
    "living_person",
    "sensitive_location",
    "restricted",
    "cultural_sensitive",
    "unknown_review_required",
]
CareClass = Literal["public", "community", "sensitive", "sacred", "unknown"]

#: order of restrictiveness (later is more restrictive); ``unknown`` wins so that it denies
CLASSIFICATION_ORDER: tuple[Classification, ...] = (
    "public",
    "internal",
    "confidential",
    "restricted",
    "unknown",
)
SENSITIVITY_ORDER: tuple[Sensitivity, ...] = (
    "public",
    "low",
    "generalized",
    "living_person",
    "sensitive_location",
    "restricted",
    "cultural_sensitive",
    "unknown_review_required",
)
CARE_ORDER: tuple[CareClass, ...] = ("public", "community", "sensitive", "sacred", "unknown")

_SCALARS = ("classification", "sensitivity", "care_class")
_SETS = (
    "sovereignty_authorities",
    "tk_labels",
    "bc_labels",
    "notices",
    "licenses",
)


class GovernanceFlags(KfmModel):
    """CARE / Indigenous-sovereignty flags carried by a dataset and inherited by its outputs.

    Strict (see :mod:`kfm_gate.models.base`): ``indigenous_rights_flag`` is a JSON boolean,
    the enums match exactly, labels and licences are strings, ``embargo_until`` a day.
    """

    schema_version: Literal["1"] = "1"
    classification: Classification
    sensitivity: Sensitivity
    care_class: CareClass = "public"
    indigenous_rights_flag: Flag = False
    sovereignty_authorities: tuple[Text, ...] = ()
    tk_labels: tuple[Text, ...] = Field(
        default=(), description="Local Contexts TK label codes, e.g. tkss"
    )
    bc_labels: tuple[Text, ...] = Field(
        default=(), description="Local Contexts BC label codes, e.g. bcr"
    )
    notices: tuple[Text, ...] = Field(default=(), description="Local Contexts notice types")
    licenses: tuple[Text, ...] = Field(default=(), description="SPDX ids or 'unknown'")
    embargo_until: Day | None = None
    origins: dict[Text, tuple[Text, ...]] = Field(
        default_factory=dict,
        description="where each value came from: '<field>' or '<field>:<value>' -> sources",
    )

    @field_validator(*_SETS, mode="after")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    def with_origin(self, source: str) -> GovernanceFlags:
        """The same flags, every value attributed to ``source`` (used before a join)."""
        origins: dict[str, tuple[str, ...]] = {name: (source,) for name in _SCALARS}
        origins["indigenous_rights_flag"] = (source,)
        for name in _SETS:
            for value in getattr(self, name):
                origins[f"{name}:{value}"] = (source,)
        if self.embargo_until is not None:
            origins["embargo_until"] = (source,)
        return self.model_copy(update={"origins": origins})


def _rank(order: tuple[str, ...], value: str) -> int:
    return order.index(value)


def join_flags(flag_sets: Iterable[GovernanceFlags]) -> GovernanceFlags:
    """The most restrictive combination of ``flag_sets`` with merged origins.

    Raises ``ValueError`` on an empty iterable: with nothing to inherit, flags are *missing*,
    which the policies deny; the caller must say so rather than invent defaults.
    """
    items = list(flag_sets)
    if not items:
        raise ValueError("join_flags needs at least one set of flags")
    origins: dict[str, set[str]] = {}

    def credit(key: str, flags: GovernanceFlags) -> None:
        origins.setdefault(key, set()).update(flags.origins.get(key, ()))

    scalars: dict[str, str] = {}
    for name, order in (
        ("classification", CLASSIFICATION_ORDER),
        ("sensitivity", SENSITIVITY_ORDER),
        ("care_class", CARE_ORDER),
    ):
        top = max((getattr(f, name) for f in items), key=lambda v: _rank(order, v))
        scalars[name] = top
        for f in items:
            if getattr(f, name) == top:
                credit(name, f)

    indigenous = any(f.indigenous_rights_flag for f in items)
    for f in items:
        if f.indigenous_rights_flag == indigenous:
            credit("indigenous_rights_flag", f)

    sets: dict[str, tuple[str, ...]] = {}
    for name in _SETS:
        union: set[str] = set()
        for f in items:
            for value in getattr(f, name):
                union.add(value)
                credit(f"{name}:{value}", f)
        sets[name] = tuple(sorted(union))

    embargoes = [f.embargo_until for f in items if f.embargo_until is not None]
    embargo = max(embargoes) if embargoes else None
    if embargo is not None:
        for f in items:
            if f.embargo_until == embargo:
                credit("embargo_until", f)

    return GovernanceFlags(
        classification=scalars["classification"],
        sensitivity=scalars["sensitivity"],
        care_class=scalars["care_class"],
        indigenous_rights_flag=indigenous,
        embargo_until=embargo,
        origins={k: tuple(sorted(v)) for k, v in sorted(origins.items()) if v},
        **sets,
    )
