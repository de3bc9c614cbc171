"""PII collector: recall on a seeded table, exactness of the fast scan, nothing leaks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, InputError
from kfm_gate.evidence.pii import (
    DEFAULT_SCORE_THRESHOLD,
    IDENTIFIER_MAX_CHARS,
    IDENTIFIER_PROBES,
    Finding,
    PiiCollector,
    analyze_value,
    build_prefilter,
    compile_identifier_pattern,
    load_identifier_patterns,
    scan_frame,
    scan_frame_reference,
    scan_text_file,
)
from kfm_gate.evidence.recognizers import build_analyzer, context_words_for_column
from kfm_gate.evidence.tables import load_table
from tests.evidence.conftest import REPO, scan_in_two_processes, seeded_sites, to_csv

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
    phones = {"UsPhoneRecognizer", "InternationalPhoneRecognizer", "NationalPhoneRecognizer"}
    for entity, recognizers in (
        ("STREET_ADDRESS", {"StreetAddressRecognizer"}),
        ("US_DRIVER_LICENSE", {"KansasDriverLicenseRecognizer"}),
        ("PHONE_NUMBER", phones),
    ):
        for value in planted[entity]:
            results = analyzer.analyze(
                text=value, language="en", context=["address", "license", "phone"]
            )
            names = {r.recognition_metadata["recognizer_name"] for r in results}
            assert recognizers & names, f"{recognizers} missed a seeded {entity}"


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
    assert {e for (_, e, _) in fast} >= {"EMAIL_ADDRESS", "US_SSN", "PHONE_NUMBER"}


def test_fast_scan_with_two_processes_is_identical(
    analyzer: Any, seeded: Any, tmp_path: Path
) -> None:
    rows, _ = seeded
    path = tmp_path / "t.csv"
    path.write_text(to_csv(rows), encoding="utf-8")
    one, two = scan_in_two_processes(load_table(path), analyzer)
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
    assert data["detectors"] and "StreetAddressRecognizer" in data["detectors"]
    assert data["ner"] is False
    assert data["counts_by_type"]["EMAIL_ADDRESS"] >= 100
    assert data["total_cells"] > 0
    log_findings = [f for f in data["findings"] if f["file"].endswith("run.log")]
    assert log_findings == [
        {
            "entity_type": "EMAIL_ADDRESS",
            "file": log_findings[0]["file"],
            "column": None,
            "part": "line",
            "cells": 1,
            "max_score": 1.0,
            "rows": [1],
            "paths": [],
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


def test_columns_without_text_are_skipped(analyzer: Any) -> None:
    import pandas as pd

    frame = pd.DataFrame({"n": [1.5, 2.5], "flag": [True, False], "t": ["a@b.org", None]})
    found, stats = scan_frame(frame, analyzer=analyzer, workers=1)
    assert stats.columns_skipped == ["flag", "n"]  # fractions (coordinates) and booleans
    assert found == {("t", "EMAIL_ADDRESS", "value"): Finding(1, 1.0, (0,), ("t",))}


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
    # the column context raises the Kansas licence score in one column only
    assert fast[("driver_license", "US_DRIVER_LICENSE", "value")].max_score > 0.4
    assert ("note", "US_DRIVER_LICENSE", "value") in fast  # 0.4 on its own
    assert fast[("note", "US_DRIVER_LICENSE", "value")].max_score == 0.4
    # a weak hit (a bank number: any 8-17 digits) never reaches the threshold by context alone
    weak = dict(analyze_value(analyzer, "12345678", ["bank", "account"], 0.0))
    assert 0.05 < weak["US_BANK_NUMBER"] < DEFAULT_SCORE_THRESHOLD
    assert ("bank_account", "US_BANK_NUMBER", "value") not in fast
    assert stats.unique_values == 5 + 5 + 5 + 3  # distinct values per column, as before
    # a second scan gives the same findings: scoring never changes the shared raw results
    assert scan_frame(frame, analyzer=analyzer, workers=1)[0] == fast


# -------------------------------------------------------------------------------------------
# declared identifiers (identifier_patterns in policies/data/pii.json)

ID_PATTERN_KEYS = ("site_id", "feature_id")


@pytest.fixture(scope="module")
def id_patterns() -> dict[str, re.Pattern[str]]:
    return load_identifier_patterns(REPO / "policies", "historic_sites")


def _write_patterns(policy_dir: Path, patterns: Any) -> None:
    path = policy_dir / "data" / "pii.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["identifier_patterns"] = patterns
    path.write_text(json.dumps(doc), encoding="utf-8")


def _real_site_ids() -> list[str]:
    """Every site id of the demo's raw data and of the example candidates."""
    import csv

    ids = []
    for path in sorted((REPO / "data" / "raw").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            ids += [row["site_id"] for row in csv.DictReader(fh)]
    for path in sorted((REPO / "examples" / "candidates").glob("*/*.geojson")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feature in doc["features"]:
            ids += [feature["properties"][k] for k in ID_PATTERN_KEYS if k in feature["properties"]]
    return ids


def test_council_identifier_patterns_cover_the_real_ids(
    id_patterns: dict[str, re.Pattern[str]],
) -> None:
    from kfm_gate.orchestration.survey import COLUMNS

    assert sorted(id_patterns) == sorted(ID_PATTERN_KEYS)
    assert "site_id" in COLUMNS
    ids = _real_site_ids()
    assert len(ids) > 100 and any(i.count("-") == 2 for i in ids)  # both id forms are present
    for column, pattern in id_patterns.items():
        assert all(pattern.fullmatch(i) for i in ids), column
        # as strict as the data allows: near misses are analyzed
        for near in (
            "HS-20177-20261103-0001",
            "hs-20177-20261103-00001",
            "hs-20177-20261333-0001",
            "hs-19177-20261103-0001",
            "hs-20177-0001-20261103",
            "hs-20177-20261103-0001\n",
            "xhs-20177-20261103-0001",
        ):
            assert pattern.fullmatch(near) is None, (column, near)


def _id_frame() -> Any:
    """Real ids, some with personal data typed into them, in both identifier columns."""
    import pandas as pd

    rows, _ = seeded_sites(rows=160)
    typed = {
        3: "jane.roe@example.org",
        17: "234-56-7890",
        29: "785-555-0142",
        41: "hs-20177-20261103-0041@example.org",
        53: "hs-20177-20261103-0053 785-555-0199",
        67: "hs-20177-20261103-0067\n",
    }
    ids = [typed.get(i, f"hs-20177-20261103-{i + 1:04d}") for i in range(len(rows))]
    frame = pd.DataFrame(rows, dtype=object)
    frame["site_id"] = ids
    frame["feature_id"] = ids[::-1]  # the same values in another order
    frame["ref"] = [f"REF-{234 + i % 3}-56-78{i % 100:02d}" for i in range(len(rows))]
    return frame, typed


def test_fast_scan_equals_plain_scan_with_declared_identifiers(
    analyzer: Any, id_patterns: dict[str, re.Pattern[str]]
) -> None:
    frame, typed = _id_frame()
    # an SSN-shaped reference the test declares an identifier: skipping it changes the findings
    identifiers = {**id_patterns, "ref": re.compile(r"REF-[0-9]{3}-56-78[0-9]{2}")}
    fast, stats = scan_frame(frame, analyzer=analyzer, workers=1, identifiers=identifiers)
    plain = scan_frame_reference(frame, analyzer=analyzer, identifiers=identifiers)
    assert fast == plain
    # the reference really skips those cells: without the declaration the refs are SSNs
    undeclared = scan_frame_reference(frame, analyzer=analyzer, identifiers=id_patterns)
    assert ("ref", "US_SSN", "value") in undeclared
    assert ("ref", "US_SSN", "value") not in fast
    assert {k: v for k, v in undeclared.items() if k[0] != "ref"} == fast
    # counted cell by cell, independently of the scan
    n = len(frame)
    assert stats.identifier_cells_skipped == {
        "site_id": n - len(typed),
        "feature_id": n - len(typed),
        "ref": n,
    }
    assert stats.cells == scan_frame(frame, analyzer=analyzer, workers=1)[1].cells


def test_pii_typed_into_an_identifier_column_is_found(
    analyzer: Any, id_patterns: dict[str, re.Pattern[str]]
) -> None:
    frame, _ = _id_frame()
    fast, _ = scan_frame(frame, analyzer=analyzer, workers=1, identifiers=id_patterns)
    n = len(frame)
    for column, reversed_rows in (("site_id", False), ("feature_id", True)):

        def row(r: int, flip: bool = reversed_rows) -> int:
            return n - 1 - r if flip else r

        assert fast[(column, "EMAIL_ADDRESS", "value")].cells == 2
        assert fast[(column, "US_SSN", "value")].cells == 1
        assert fast[(column, "PHONE_NUMBER", "value")].cells == 2
        assert fast[(column, "US_SSN", "value")].rows == (row(17),)
        assert set(fast[(column, "EMAIL_ADDRESS", "value")].rows) == {row(3), row(41)}


def test_identifier_cells_are_counted_in_the_evidence(
    make_ctx: Callable[..., GateContext], id_patterns: dict[str, re.Pattern[str]]
) -> None:
    frame, typed = _id_frame()
    ctx = make_ctx({"sites.csv": frame.to_csv(index=False)}, dataset="historic_sites")
    data = PiiCollector(ner=False).collect(ctx).data
    n = len(frame)
    assert data["identifier_patterns"] == {c: p.pattern for c, p in id_patterns.items()}
    # the CSV reader strips nothing: the id with a trailing newline is quoted and analyzed
    assert data["identifier_cells_skipped"] == {
        "feature_id": n - len(typed),
        "site_id": n - len(typed),
    }
    assert data["files"][0]["identifier_cells_skipped"] == data["identifier_cells_skipped"]
    assert data["files"][0]["cells"] == data["total_cells"]
    found = {(f["column"], f["entity_type"]): f["cells"] for f in data["findings"]}
    assert found[("site_id", "EMAIL_ADDRESS")] == 2
    assert found[("feature_id", "US_SSN")] == 1
    text = json.dumps(data)
    assert "jane.roe" not in text and "234-56-7890" not in text and "0041@" not in text
    # another dataset has no declared identifiers: every cell is analyzed
    other = PiiCollector(ner=False).collect(make_ctx({"sites.csv": frame.to_csv(index=False)}))
    assert other.data["identifier_patterns"] == {}
    assert other.data["identifier_cells_skipped"] == {}
    assert other.data["files"][0]["analyzed_values"] > data["files"][0]["analyzed_values"]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"historic_sites": {"site_id": "hs-([0-9]{5}"}}, "does not compile"),
        ({"historic_sites": {"site_id": ".*"}}, "also matches"),
        ({"historic_sites": {"site_id": r"\S+"}}, "also matches"),
        ({"historic_sites": {"site_id": r"[^@\s]+"}}, "also matches"),
        ({"historic_sites": {"site_id": r"hs-[0-9]{5}-[0-9]{4}(\s.*)?"}}, "also matches"),
        ({"historic_sites": {"site_id": "[0-9-]{11}"}}, "also matches"),
        ({"historic_sites": {"site_id": ""}}, "non-empty string"),
        ({"historic_sites": {"site_id": 5}}, "non-empty string"),
        ({"historic_sites": ["site_id"]}, "must map column"),
        (["historic_sites"], "must map dataset"),
    ],
)
def test_bad_identifier_pattern_fails_the_collector(
    make_ctx: Callable[..., GateContext], policy_copy: Path, patterns: Any, message: str
) -> None:
    _write_patterns(policy_copy, patterns)
    ctx = make_ctx(
        {"sites.csv": "site_id,notes\nhs-20045-0001,none\n"},
        dataset="historic_sites",
        policy_dir=policy_copy,
    )
    with pytest.raises(CollectorError, match=message) as info:
        PiiCollector(ner=False).collect(ctx)
    assert "identifier_patterns" in str(info.value)


def test_pattern_matching_a_cell_with_whitespace_fails_the_scan(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    # passes the probes, but a real cell shows it lets whitespace through
    _write_patterns(
        policy_copy, {"historic_sites": {"site_id": r"hs-[0-9]{5}-[0-9]{4}(?: [a-z]+)?"}}
    )
    ok = make_ctx(
        {"sites.csv": "site_id,notes\nhs-20045-0001,none\n"},
        dataset="historic_sites",
        policy_dir=policy_copy,
    )
    assert PiiCollector(ner=False).collect(ok).data["identifier_cells_skipped"] == {"site_id": 1}
    bad = make_ctx(
        {"sites.csv": "site_id,notes\nhs-20045-0001 secret,none\n"},
        dataset="historic_sites",
        policy_dir=policy_copy,
    )
    with pytest.raises(CollectorError, match="holding '@' or whitespace") as info:
        PiiCollector(ner=False).collect(bad)
    assert "secret" not in str(info.value)


def test_identifier_probes_are_rejected_by_the_validation() -> None:
    for probe in IDENTIFIER_PROBES:
        with pytest.raises(InputError, match="also matches"):
            compile_identifier_pattern("c", re.escape(probe))
    assert compile_identifier_pattern("c", "hs-[0-9]{4}").fullmatch("hs-0001")
    # grammars a council might write too loosely: each would hide PII or a credential
    for lax in (r"[\w.@+-]+", r"[A-Za-z0-9_-]{8,}", r"\S+", r"[A-Za-z0-9=._-]+"):
        with pytest.raises(InputError, match="also matches"):
            compile_identifier_pattern("c", lax)


def test_long_cells_are_never_identifiers(analyzer: Any) -> None:
    import pandas as pd

    pattern = re.compile("x[0-9]*")
    long_value = "x" + "1" * IDENTIFIER_MAX_CHARS
    frame = pd.DataFrame({"code": ["x12", long_value]}, dtype=object)
    _, stats = scan_frame(frame, analyzer=analyzer, workers=1, identifiers={"code": pattern})
    assert stats.identifier_cells_skipped == {"code": 1}
    assert stats.cells == 2
