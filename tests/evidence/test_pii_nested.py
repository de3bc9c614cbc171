"""PII is looked for where it hides: column names, nested objects and arrays, numbers.

Each test names a shape that main (584f44a) missed or crashed on: an e-mail address used as a
GeoJSON property name was not found (the partition was allowed); a nested object in a property
crashed the collector (``unhashable type: 'dict'``); a phone number stored as a number in a
column with missing values was skipped as numeric.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, InputError
from kfm_gate.evidence import PiiCollector, RedactionEngine
from kfm_gate.evidence.pii import scan_frame, scan_frame_reference, scan_text_file
from kfm_gate.evidence.recognizers import build_analyzer
from kfm_gate.evidence.tables import TableLimits, cell_parts, load_table, render_path
from tests.evidence.conftest import evidence_gate, redact_obligation, scan_in_two_processes
from tests.helpers import SITES, dump, make_request, scratch_repo

EMAIL = "jane.roe@example.org"
PHONE = "785-555-0142"
OTHER_EMAIL = "ben.quill@example.org"
SECRET_VALUES = (EMAIL, PHONE, OTHER_EMAIL, "7855550142", "jane.roe", "ben.quill")


@pytest.fixture(scope="module")
def analyzer() -> Any:
    return build_analyzer(ner=False)


def _sites(edit: Callable[[list[dict[str, Any]]], None]) -> bytes:
    doc = json.loads(SITES)
    edit([f["properties"] for f in doc["features"]])
    return json.dumps(doc).encode("utf-8")


def _no_value_in(text: str) -> None:
    for value in SECRET_VALUES:
        assert value not in text, value
        assert hashlib.sha256(value.encode()).hexdigest() not in text


def _geojson(tmp_path: Path, props: list[dict[str, Any]]) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": None, "properties": p} for p in props],
    }
    path = tmp_path / "t.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# -------------------------------------------------------------------------------------------
# what a cell holds


def test_cell_parts_lists_keys_and_leaves_with_paths() -> None:
    value = {"contact": ["a", "b", f"call {PHONE}"], EMAIL: {"n": 7855550142, "ok": True}}
    parts = cell_parts(value)
    shown = [(render_path("notes", p.path), p.text, p.is_key) for p in parts]
    assert shown == [
        ("notes.contact", "contact", True),
        ("notes.contact[0]", "a", False),
        ("notes.contact[1]", "b", False),
        ("notes.contact[2]", f"call {PHONE}", False),
        (f"notes.{EMAIL}", EMAIL, True),
        (f"notes.{EMAIL}.n", "n", True),
        (f"notes.{EMAIL}.n", "7855550142", False),
        (f"notes.{EMAIL}.ok", "ok", True),
    ]
    # a key holding personal data is shown by its position, never by its text
    assert render_path("notes", parts[4].path, frozenset({EMAIL})) == "notes.<key#1>"


def test_cell_parts_refuses_deep_nesting_and_long_texts() -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = {"k": deep}
    with pytest.raises(InputError, match="nested more than 32 levels"):
        cell_parts(deep)
    with pytest.raises(InputError, match="more than the limit of 8") as info:
        cell_parts({"k": "y" * 9}, TableLimits(max_cell_chars=8))
    assert "yyyy" not in str(info.value)


# -------------------------------------------------------------------------------------------
# the scan


def test_email_as_a_property_name_is_found_and_not_shown(analyzer: Any, tmp_path: Path) -> None:
    frame = load_table(_geojson(tmp_path, [{"name": "A", EMAIL: "yes"}, {"name": "B"}]))
    found, stats = scan_frame(frame, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(frame, analyzer=analyzer)
    key = ("<key#1>", "EMAIL_ADDRESS", "column_name")
    assert key in found
    assert found[key].cells == 1
    assert stats.columns_scanned == ["name", "<key#1>"]
    _no_value_in(json.dumps([str(k) for k in found] + [str(v) for v in found.values()]))


def test_nested_objects_and_arrays_are_scanned_with_paths(analyzer: Any, tmp_path: Path) -> None:
    props = [
        {"site": "A", "notes": {"contact": ["see box 4", "ask", f"call {PHONE}"]}},
        {"site": "B", "notes": {"contact": [OTHER_EMAIL]}},
        {"site": "C", "notes": "plain text"},
        {"site": "D", "notes": None},
        {"site": "E", "notes": {"contact": ["see box 4", "ask", f"call {PHONE}"]}},
    ]
    frame = load_table(_geojson(tmp_path, props))
    found, stats = scan_frame(frame, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(frame, analyzer=analyzer)
    phone = found[("notes", "PHONE_NUMBER", "value")]
    assert (phone.cells, phone.rows, phone.paths) == (2, (0, 4), ("notes.contact[2]",))
    email = found[("notes", "EMAIL_ADDRESS", "value")]
    assert (email.cells, email.rows, email.paths) == (1, (1,), ("notes.contact[0]",))
    assert stats.nested_cells == 3
    assert stats.cells == 5 + 4  # site, and every notes cell but the missing one


def test_keys_of_nested_objects_are_scanned_and_masked(analyzer: Any, tmp_path: Path) -> None:
    props = [{"notes": {"owners": {EMAIL: {"phone": PHONE}}}}, {"notes": {"owners": {}}}]
    frame = load_table(_geojson(tmp_path, props))
    found, _ = scan_frame(frame, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(frame, analyzer=analyzer)
    key = found[("notes", "EMAIL_ADDRESS", "key")]
    assert key.paths == ("notes.owners.<key#0>",)
    phone = found[("notes", "PHONE_NUMBER", "value")]
    # the phone's path goes through the masked key; the column context (phone) counts
    assert phone.paths == ("notes.owners.<key#0>.phone",)
    _no_value_in(json.dumps([str(v) for v in found.values()]))


def test_lists_of_strings_and_numbers_that_are_phones(analyzer: Any, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    props = [
        {"tags": ["fort", OTHER_EMAIL], "phone": 7855550142},
        {"tags": [], "phone": None},
        {"tags": None, "phone": float("nan")},
        {"tags": ["mill"], "phone": 3165550199.0},
    ]
    frame = load_table(_geojson(tmp_path, props))
    found, _ = scan_frame(frame, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(frame, analyzer=analyzer)
    assert found[("tags", "EMAIL_ADDRESS", "value")].paths == ("tags[1]",)
    assert found[("phone", "PHONE_NUMBER", "value")].rows == (0, 3)
    # the same numbers in typed columns (Parquet, pandas): an integer column and a float
    # column whose missing values made it float are scanned; fractions are not
    typed = pd.DataFrame(
        {
            "phone_int": np.array([7855550142, 3165550199], dtype=np.int64),
            "phone_float": [7855550142.0, np.nan],
            "lat": [38.97, 39.01],
        }
    )
    found, stats = scan_frame(typed, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(typed, analyzer=analyzer)
    assert found[("phone_int", "PHONE_NUMBER", "value")].cells == 2
    assert found[("phone_float", "PHONE_NUMBER", "value")].cells == 1
    assert stats.columns_skipped == ["lat"]


def test_parquet_structs_and_lists_are_scanned(analyzer: Any, tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "site": ["A", "B"],
            "owner": [{"mail": EMAIL, "zip": 66044}, {"mail": None, "zip": 66046}],
            "calls": [[PHONE], []],
        }
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    loaded = load_table(path)
    found, _ = scan_frame(loaded, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(loaded, analyzer=analyzer)
    assert found[("owner", "EMAIL_ADDRESS", "value")].paths == ("owner.mail",)
    assert found[("calls", "PHONE_NUMBER", "value")].paths == ("calls[0]",)


def test_csv_header_and_json_log_lines(analyzer: Any, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"site,{EMAIL}\nA,x\n", encoding="utf-8")
    found, _ = scan_frame(load_table(path), analyzer=analyzer, workers=1)
    assert ("<key#1>", "EMAIL_ADDRESS", "column_name") in found
    log = tmp_path / "run.log"
    log.write_text(
        json.dumps({"event": "x", "extra": {EMAIL: [1, {"tel": PHONE}]}}) + "\nplain\n",
        encoding="utf-8",
    )
    found_lines = {f["entity_type"]: f["lines"] for f in scan_text_file(log, analyzer=analyzer)}
    assert found_lines == {"EMAIL_ADDRESS": [1], "PHONE_NUMBER": [1]}


def test_fast_scan_equals_plain_scan_on_nested_cells_in_two_processes(
    analyzer: Any, tmp_path: Path
) -> None:
    props = []
    for i in range(300):
        notes: Any = {"contact": [f"n{i % 7}", f"{i:03d}-555-0142" if i % 5 == 0 else "none"]}
        if i % 11 == 0:
            notes = {f"owner{i % 3}@example.org": {"since": 1900 + i % 50}}
        props.append({"site": f"s{i % 40}", "notes": notes, "n": i})
    frame = load_table(_geojson(tmp_path, props))
    one, two = scan_in_two_processes(frame, analyzer)
    assert one == two == scan_frame_reference(frame, analyzer=analyzer)
    assert ("notes", "EMAIL_ADDRESS", "key") in one
    assert ("notes", "PHONE_NUMBER", "value") in one


# -------------------------------------------------------------------------------------------
# the collector, the redaction and the gate


def test_collector_reports_places_without_values(make_ctx: Callable[..., GateContext]) -> None:
    content = _sites(
        lambda props: (
            props[0].update({EMAIL: "yes"}),
            props[1].update({"extra": {"contact": ["a", "b", f"call {PHONE}"]}}),
        )
    )
    ctx = make_ctx({"sites.geojson": content}, dataset="historic_sites")
    data = PiiCollector(ner=False).collect(ctx).data
    places = {(f["column"], f["entity_type"], f["part"]): f for f in data["findings"]}
    assert places[("extra", "PHONE_NUMBER", "value")]["paths"] == ["extra.contact[2]"]
    assert any(k[1:] == ("EMAIL_ADDRESS", "column_name") for k in places)
    assert data["counts_by_type"]["EMAIL_ADDRESS"] == 1
    assert data["files"][0]["nested_cells"] == 1
    _no_value_in(json.dumps(data))


def test_deep_nesting_fails_the_collector(make_ctx: Callable[..., GateContext]) -> None:
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    ctx = make_ctx({"sites.geojson": _sites(lambda p: p[0].update({"x": deep}))})
    with pytest.raises(CollectorError, match="nested more than"):
        PiiCollector(ner=False).collect(ctx)


def test_redaction_reaches_nested_values_and_keys(make_ctx: Callable[..., GateContext]) -> None:
    nested = {
        "contact": ["ask at the farm", f"call {PHONE}", 7855550199],
        OTHER_EMAIL: {"note": f"or {EMAIL}"},
        "<EMAIL_ADDRESS>": "a key that is already taken",
    }
    content = _sites(lambda props: props[0].update({"notes": nested}))
    ob = redact_obligation(columns=["notes"], entities=["EMAIL_ADDRESS", "PHONE_NUMBER"])
    ctx = make_ctx({"sites.geojson": content}, dataset="historic_sites", obligations=[ob])
    before = PiiCollector(ner=False).collect(ctx).data["counts_by_type"]
    assert before == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1}
    report = RedactionEngine(ner=False).apply(ctx, (ob,))
    assert report["applied"][0]["cells_redacted"] == 1
    assert report["applied"][0]["spans_by_type"] == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 2}
    after = PiiCollector(ner=False).collect(ctx).data
    assert after["counts_by_type"] == {}
    public = ctx.files[0].public.read_text(encoding="utf-8")
    _no_value_in(public)
    notes = json.loads(public)["features"][0]["properties"]["notes"]
    assert notes["contact"] == ["ask at the farm", "call <PHONE_NUMBER>", "<PHONE_NUMBER>"]
    assert notes["<EMAIL_ADDRESS>#2"] == {"note": "or <EMAIL_ADDRESS>"}
    assert notes["<EMAIL_ADDRESS>"] == "a key that is already taken"
    _no_value_in(json.dumps(report))


def _decide(tmp_path: Path, content: bytes) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    root = scratch_repo(tmp_path)
    gate = evidence_gate(root, quality_process=False)
    return gate.evaluate(dump(make_request(root, content=content))).decision


def test_gate_denies_an_email_used_as_a_property_name(tmp_path: Path) -> None:
    decision = _decide(tmp_path, _sites(lambda props: props[2].update({EMAIL: "owner"})))
    assert decision.outcome == "deny", decision.error
    (violation,) = [v for v in decision.violations if v.rule == "pii.entity_in_public_view"]
    assert violation.details["entity_type"] == "EMAIL_ADDRESS"
    (place,) = violation.details["places"]
    assert place["part"] == "column_name" and place["column"].startswith("<key#")
    _no_value_in(json.dumps(decision.model_dump(mode="json")))


def test_gate_denies_pii_nested_in_a_property_it_does_not_redact(tmp_path: Path) -> None:
    content = _sites(lambda props: props[0].update({"extra": {"contact": ["a", "b", PHONE]}}))
    decision = _decide(tmp_path, content)
    assert decision.outcome == "deny", decision.error
    (violation,) = [v for v in decision.violations if v.rule == "pii.entity_in_public_view"]
    assert violation.details["places"][0]["paths"] == ["extra.contact[2]"]


def test_gate_allows_nested_pii_the_redaction_removed(tmp_path: Path) -> None:
    control = _decide(tmp_path / "a", SITES)
    assert control.outcome == "allow", control.error
    nested = {"contact": ["ask at the farm", f"call {PHONE}"], "by": OTHER_EMAIL}
    decision = _decide(tmp_path / "b", _sites(lambda props: props[0].update({"notes": nested})))
    assert decision.outcome == "allow", (decision.error, decision.violations)


# -------------------------------------------------------------------------------------------
# any shape: random properties with an e-mail planted somewhere (key or leaf)

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
    st.text(alphabet="abc XYZ-12.", max_size=12),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(alphabet="abkz_", min_size=1, max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "notes"]), _VALUES), min_size=1, max_size=5
    ),
    where=st.sampled_from(["leaf", "key", "list"]),
)
def test_any_shape_is_scanned_exactly_and_the_planted_email_is_found(
    analyzer: Any, rows: list[dict[str, Any]], where: str
) -> None:
    import pandas as pd

    planted = {"leaf": {"x": EMAIL}, "key": {EMAIL: 1}, "list": [1, None, EMAIL]}[where]
    rows = [dict(r) for r in rows]
    rows[-1]["notes"] = {"deep": [rows[-1].get("notes"), planted]}
    frame = pd.DataFrame.from_records(rows).astype(object)
    frame = frame.where(frame.notna(), None)
    found, _ = scan_frame(frame, analyzer=analyzer, workers=1)
    assert found == scan_frame_reference(frame, analyzer=analyzer)
    part = "key" if where == "key" else "value"
    assert found[("notes", "EMAIL_ADDRESS", part)].cells >= 1
    _no_value_in(json.dumps([str(k) for k in found] + [str(v) for v in found.values()]))
