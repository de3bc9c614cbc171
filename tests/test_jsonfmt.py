"""Indented JSON: byte for byte what ``json.dumps(sort_keys=True, indent=n)`` writes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kfm_gate.jsonfmt import dumps_indent
from kfm_gate.runs import dumps

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(doc=_json, indent=st.sampled_from([0, 1, 2, 4]), ascii_only=st.booleans())
def test_dumps_indent_is_json_dumps(doc: object, indent: int, ascii_only: bool) -> None:
    expected = json.dumps(doc, sort_keys=True, indent=indent, ensure_ascii=ascii_only)
    assert dumps_indent(doc, indent, ensure_ascii=ascii_only) == expected


def test_dumps_indent_leaves_other_types_to_json() -> None:
    class Key(str):
        pass

    assert dumps_indent({Key("b"): 1, "a": [1.5]}, 1) == json.dumps(
        {Key("b"): 1, "a": [1.5]}, sort_keys=True, indent=1
    )
    with pytest.raises(TypeError):
        dumps_indent({"a": object()}, 1)
    circular: list[object] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular"):
        dumps_indent(circular, 1)


def test_run_records_refuse_nan_like_json() -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            dumps({"x": [1, bad]})
    assert (
        dumps({"b": 1.5, "a": "é"})
        == json.dumps({"b": 1.5, "a": "é"}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
