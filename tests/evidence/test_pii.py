"""PII collector: recall on a seeded table, exactness of the fast scan, nothing leaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.context import GateContext
from kfm_gate.evidence.pii import (
    DEFAULT_SCORE_THRESHOLD,
    PiiCollector,
    analyze_value,
    build_prefilter,
    scan_frame,
    scan_frame_reference,
    scan_text_file,
)
from kfm_gate.evidence.recognizers import build_analyzer, context_words_for_column
from kfm_gate.evidence.tables import load_table
from tests.evidence.conftest import seeded_sites, to_csv

ENTITIES = ["EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER"]


@pytest.fixture(scope="module")
def analyzer() -> Any:
    return build_analyzer(ner=False)


@pytest.fixture(scope="module")
def seeded() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    return seeded_sites(rows=800)


def _found(analyzer: Any, text: str, column: str) -> set[str]:
    hits = analyze_value(analyzer, text, context_words_for_column(column), DEFAULT_SCORE_THRESHOLD)
    return {entity for entity, _ in hits}


@pytest.mark.parametrize("entity", [*ENTITIES, "STREET_ADDRESS", "US_DRIVER_LICENSE"])
def test_recall_on_seeded_notes(analyzer: Any, seeded: Any, entity: str) -> None:
    rows, planted = seeded
    kinds = list(planted)
    kind = kinds.index(entity)
    cells = [r["notes"] for i, r in enumerate(rows) if i % 8 == kind]
    assert len(cells) == len(planted[entity]) == 100
    found = sum(entity in _found(analyzer, text, "notes") for text in cells)
    assert found / len(cells) >= 0.99, f"{entity}: recall {found}/{len(cells)}"


def test_project_recognizers_find_their_values(analyzer: Any, seeded: Any) -> None:
    _, planted = seeded
    for entity, recognizer in (
        ("STREET_ADDRESS", "UsStreetAddressRecognizer"),
        ("US_DRIVER_LICENSE", "KansasDriverLicenseRecognizer"),
        ("PHONE_NUMBER", "UsPhoneRecognizer"),
    ):
        for value in planted[entity]:
            results = analyzer.analyze(
                text=value, language="en", context=["address", "license", "phone"]
            )
            names = {r.recognition_metadata["recognizer_name"] for r in results}
            assert recognizer in names, f"{recognizer} missed a seeded {entity}"


@pytest.mark.parametrize(
    "text",
    ["(785) 555-0142", "785.555.0142", "785-555-0142", "+1 785 555 0142", "call 785.555.0142 x12"],
)
def test_us_phone_formats(analyzer: Any, text: str) -> None:
    assert "PHONE_NUMBER" in _found(analyzer, text, "notes")


def test_url_inside_email_is_dropped(analyzer: Any) -> None:
    found = _found(analyzer, "write to jane.doe@example.com today", "notes")
    assert found == {"EMAIL_ADDRESS"}


def test_plain_words_are_not_pii(analyzer: Any) -> None:
    assert _found(analyzer, "Built 1885 Stone Mill on the creek", "notes") == set()
    assert _found(analyzer, "Fort Larned trading post", "name") == set()


def test_column_name_is_context(analyzer: Any) -> None:
    weak = analyze_value(analyzer, "K12345678", [], 0.0)
    strong = analyze_value(analyzer, "K12345678", context_words_for_column("driver_license"), 0.0)
    assert max(s for e, s in strong if e == "US_DRIVER_LICENSE") > max(
        s for e, s in weak if e == "US_DRIVER_LICENSE"
    )


def test_in_text_context_boosts_without_nlp(analyzer: Any) -> None:
    plain = dict(analyze_value(analyzer, "ref 234-56-7890", [], 0.0))
    boosted = dict(analyze_value(analyzer, "ssn 234-56-7890", [], 0.0))
    assert boosted["US_SSN"] > plain["US_SSN"]


def test_fast_scan_equals_plain_cell_by_cell(analyzer: Any, seeded: Any, tmp_path: Path) -> None:
    rows, _ = seeded
    path = tmp_path / "t.csv"
    path.write_text(to_csv(rows[:240] * 2), encoding="utf-8")  # repeated values on purpose
    frame = load_table(path)
    fast, stats = scan_frame(frame, analyzer=analyzer, workers=1)
    plain = scan_frame_reference(frame, analyzer=analyzer)
    assert fast == plain
    assert stats.unique_values < stats.cells
    assert stats.analyzed_values < stats.unique_values  # the pre-filter did skip work
    assert {e for (_, e) in fast} >= {"EMAIL_ADDRESS", "US_SSN", "PHONE_NUMBER"}


def test_fast_scan_with_two_processes_is_identical(
    analyzer: Any, seeded: Any, tmp_path: Path
) -> None:
    import kfm_gate.evidence.pii as pii

    rows, _ = seeded
    path = tmp_path / "t.csv"
    path.write_text(to_csv(rows), encoding="utf-8")
    frame = load_table(path)
    one, _ = scan_frame(frame, analyzer=analyzer, workers=1)
    old = pii.PARALLEL_MIN_VALUES
    pii.PARALLEL_MIN_VALUES = 10
    try:
        two, _ = scan_frame(frame, analyzer=analyzer, workers=2)
    finally:
        pii.PARALLEL_MIN_VALUES = old
    assert one == two


def test_prefilter_is_sound_on_tricky_values(analyzer: Any) -> None:
    pre = build_prefilter(analyzer)
    values = [
        "+683 1234",
        "011 44 20 7946 0958",
        "call +44 20 7946 0958",
        "\uff11\uff12\uff13-\uff14\uff15\uff16-\uff17\uff18\uff19\uff10",  # full-width digits
        "4111-1111-1111-1111",
        "DE89 3704 0044 0532 0130 00",
        "::1",
        "fe80::1ff:fe23:4567:890a",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "12/31/1999",
        "00:1A:2B:3C:4D:5E",
        "www.kshs.org",
        "K12-34-5678",
        "1200 Massachusetts St",
        "name@host.io",
    ]
    for value in values:
        hits = analyze_value(analyzer, value, [], 0.0)
        if hits:
            assert set(pre.entities_for(value)) >= {e for e, _ in hits}, value


def test_collector_evidence_has_no_values(
    make_ctx: Callable[..., GateContext], seeded: Any
) -> None:
    rows, planted = seeded
    ctx = make_ctx(
        {"sites.csv": to_csv(rows), "run.log": "contact jane.roe@example.org\n"},
        dataset="historic_sites",
    )
    section = PiiCollector(ner=False).collect(ctx)
    data = section.data
    assert data["detectors"] and "UsStreetAddressRecognizer" in data["detectors"]
    assert data["ner"] is False
    assert data["counts_by_type"]["EMAIL_ADDRESS"] >= 100
    assert data["total_cells"] > 0
    log_findings = [f for f in data["findings"] if f["file"].endswith("run.log")]
    assert log_findings == [
        {
            "entity_type": "EMAIL_ADDRESS",
            "file": log_findings[0]["file"],
            "column": None,
            "cells": 1,
            "max_score": 1.0,
            "rows": [1],
        }
    ]
    text = json.dumps(section.to_json_dict())
    for values in planted.values():
        for value in values:
            assert value not in text
    assert "jane.roe" not in text


def test_collector_is_deterministic(make_ctx: Callable[..., GateContext], seeded: Any) -> None:
    rows, _ = seeded
    ctx = make_ctx({"sites.csv": to_csv(rows[:200])}, dataset="historic_sites")
    a = json.dumps(PiiCollector(ner=False).collect(ctx).to_json_dict(), sort_keys=True)
    b = json.dumps(PiiCollector(ner=False, workers=2).collect(ctx).to_json_dict(), sort_keys=True)
    assert a == b


def test_numeric_columns_are_skipped(analyzer: Any) -> None:
    import pandas as pd

    frame = pd.DataFrame({"n": [1.5, 2.5], "flag": [True, False], "t": ["a@b.org", None]})
    found, stats = scan_frame(frame, analyzer=analyzer, workers=1)
    assert stats.columns_skipped == ["flag", "n"]
    assert found == {("t", "EMAIL_ADDRESS"): (1, 1.0, (0,))}


def test_scan_text_file(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("start\nowner ssn 234-56-7890\nend\n", encoding="utf-8")
    assert scan_text_file(log) == [
        {"entity_type": "US_SSN", "line_count": 1, "max_score": 0.85, "lines": [2]}
    ]


def test_value_shared_by_columns_is_scored_per_column_context(analyzer: Any) -> None:
    """A value is recognized once for all its columns; each column's context still counts."""
    import pandas as pd

    numbers = ["12345678", "234-56-7890", "K12345678", "hs-20177-20261103-0001", "plain"]
    frame = pd.DataFrame(
        {
            "bank_account": numbers * 3,
            "note": numbers * 3,
            "site_id": list(reversed(numbers)) * 3,
            "driver_license": numbers[::2] * 5,
        },
        dtype=object,
    )
    fast, stats = scan_frame(frame, analyzer=analyzer, workers=1)
    assert fast == scan_frame_reference(frame, analyzer=analyzer)
    # the column context raises the weak bank-number score over the threshold in one column only
    assert ("bank_account", "US_BANK_NUMBER") in fast
    assert ("note", "US_BANK_NUMBER") not in fast
    assert stats.unique_values == 5 + 5 + 5 + 3  # distinct values per column, as before
    # a second scan gives the same findings: scoring never changes the shared raw results
    assert scan_frame(frame, analyzer=analyzer, workers=1)[0] == fast
