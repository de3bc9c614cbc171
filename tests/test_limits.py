"""``kfm_gate.limits``: bounded readers and deadlines (issue #12, item 4)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from kfm_gate.errors import InputError, LimitError
from kfm_gate.limits import LIMITS, Limits, call_with_deadline, check_document, load_json, load_yaml


def test_bytes_are_refused_before_parsing() -> None:
    raw = b"[" + b"0," * (LIMITS.request_bytes // 2) + b"0]"
    with pytest.raises(LimitError, match="limit request_bytes") as info:
        load_json(raw, "request")
    assert info.value.limit == "request_bytes"


def test_depth_stops_the_parser_and_names_the_limit() -> None:
    for raw in ("[" * 100_000, "[" * 40 + "]" * 40, '{"a":' * 33 + "1" + "}" * 33):
        with pytest.raises(LimitError, match="limit depth") as info:
            load_json(raw, "request")
        assert info.value.limit == "depth"
    assert load_json("[" * 32 + "]" * 32, "request") is not None


def test_elements_are_counted_while_parsing() -> None:
    with pytest.raises(LimitError, match="limit elements"):
        load_json(json.dumps({"cells": [0] * 30_000}), "request")
    with pytest.raises(LimitError, match="limit elements"):  # objects: counted by the parser
        load_json(json.dumps([{"k": i} for i in range(25_000)]), "request")


def test_long_strings_and_keys_are_refused() -> None:
    with pytest.raises(LimitError, match="string_chars"):
        load_json(json.dumps({"a": "x" * (LIMITS.string_chars + 1)}), "request")
    with pytest.raises(LimitError, match="a key of"):
        load_json(json.dumps({"k" * (LIMITS.string_chars + 1): 1}), "request")


def test_ambiguous_json_is_refused() -> None:
    with pytest.raises(InputError, match="appears twice"):
        load_json('{"flag": true, "flag": false}', "request")
    with pytest.raises(InputError, match="not strict JSON"):
        load_json('{"x": NaN}', "request")
    with pytest.raises(InputError, match="not JSON"):
        load_json(b"\xff\xfe", "request")


def test_check_document_is_iterative() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(50_000):  # deeper than the interpreter's recursion limit
        child: list[object] = []
        node.append(child)
        node = child
    with pytest.raises(LimitError, match="depth"):
        check_document(deep, "params")
    check_document({"a": [1, 2, {"b": "c"}]}, "params", limits=Limits(depth=3, elements=5))
    with pytest.raises(LimitError):
        check_document({"a": [1, 2, {"b": "c"}]}, "params", limits=Limits(depth=3, elements=4))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flag: no", {"flag": "no"}),
        ("flag: off", {"flag": "off"}),
        ("flag: yes", {"flag": "yes"}),
        ("flag: false", {"flag": False}),
        ("flag: True", {"flag": True}),
    ],
)
def test_yaml_booleans_are_only_true_and_false(text: str, expected: dict[str, object]) -> None:
    assert load_yaml(text, "doc") == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: &x [1, 2]\nb: *x\n", "anchors"),
        ("a: *x\n", "aliases"),
        ("a: !!binary aGk=\n", "not valid YAML"),
        ("a: !!python/object:os.system ls\n", "not valid YAML"),
        ("day: 2026-02-30\n", "cannot be read"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_yaml_that_is_ambiguous_or_unsafe_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as info:
        load_yaml(text, "doc")
    assert "\n" not in str(info.value)


def test_yaml_bytes_are_limited() -> None:
    with pytest.raises(LimitError, match="document_bytes"):
        load_yaml("a: " + "x" * (LIMITS.document_bytes + 1), "doc")


def test_a_call_past_its_deadline_does_not_hold_the_caller() -> None:
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
        call_with_deadline(lambda: release.wait(60), 0.2, "stuck")
    assert time.monotonic() - start < 5
    release.set()
    assert call_with_deadline(lambda: 42, 1.0) == 42
    with pytest.raises(KeyError):
        call_with_deadline(lambda: {}["missing"], 1.0)
