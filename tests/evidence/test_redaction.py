"""Redaction obligation: spans become <ENTITY_TYPE>, the re-scan is clean, nothing leaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kfm_gate.context import GateContext
from kfm_gate.errors import ObligationError
from kfm_gate.evidence.pii import PiiCollector
from kfm_gate.evidence.redaction import RedactionEngine
from kfm_gate.models import Obligation
from tests.evidence.conftest import redact_obligation, seeded_sites, to_csv

ENTITIES = [
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "US_DRIVER_LICENSE",
    "US_SSN",
]


def test_redacts_csv_and_rescan_is_clean(make_ctx: Callable[..., GateContext]) -> None:
    rows, planted = seeded_sites(rows=160)
    ob = redact_obligation(columns=["notes", "recorder_contact"], entities=ENTITIES)
    ctx = make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites", obligations=[ob])
    before = PiiCollector(ner=False).collect(ctx).data["counts_by_type"]
    assert all(before.get(e, 0) > 0 for e in ("EMAIL_ADDRESS", "US_SSN", "PHONE_NUMBER"))
    report = RedactionEngine().apply(ctx, (ob,))
    assert report["applied_codes"] == ["REDACT_FREE_TEXT"]
    (applied,) = report["applied"]
    assert applied["applied"] is True
    assert applied["cells_redacted"] >= 160
    assert applied["missing_columns"] == []
    after = PiiCollector(ner=False).collect(ctx).data["counts_by_type"]
    assert not set(after) & set(ENTITIES), after
    public = ctx.files[0].public.read_text(encoding="utf-8")
    assert "<EMAIL_ADDRESS>" in public and "<US_SSN>" in public
    for values in planted.values():
        for value in values:
            assert value not in public
    assert "HS-00001" in public  # other columns are untouched
    text = json.dumps(report)
    for values in planted.values():
        for value in values:
            assert value not in text


def test_redacts_geojson_properties(make_ctx: Callable[..., GateContext]) -> None:
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-95.2, 38.9]},
                "properties": {"id": "a", "comment": "mail kim.lee@example.net or 785.555.0142"},
            },
            {"type": "Feature", "geometry": None, "properties": {"id": "b", "comment": "fine"}},
        ],
    }
    ob = redact_obligation(columns=["comment"])
    ctx = make_ctx({"t.geojson": json.dumps(doc)}, obligations=[ob])
    report = RedactionEngine().apply(ctx, (ob,))
    out = json.loads(ctx.files[0].public.read_text(encoding="utf-8"))
    assert out["features"][0]["properties"]["comment"] == "mail <EMAIL_ADDRESS> or <PHONE_NUMBER>"
    assert out["features"][0]["geometry"] == doc["features"][0]["geometry"]
    assert out["features"][1]["properties"]["comment"] == "fine"
    assert report["applied"][0]["spans_by_type"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_redacts_text_artifacts_when_asked(make_ctx: Callable[..., GateContext]) -> None:
    ob = redact_obligation(text=True)
    ctx = make_ctx({"report.md": "# Report\nSurveyor: 234-56-7890 (ssn)\n"}, obligations=[ob])
    RedactionEngine().apply(ctx, (ob,))
    assert ctx.files[0].public.read_text(encoding="utf-8") == "# Report\nSurveyor: <US_SSN> (ssn)\n"


def test_unknown_entity_is_an_error(make_ctx: Callable[..., GateContext]) -> None:
    ob = redact_obligation(columns=["comment"], entities=["SOCIAL_NUMBER"])
    ctx = make_ctx({"t.csv": "id,comment\n1,x\n"}, obligations=[ob])
    with pytest.raises(ObligationError, match="SOCIAL_NUMBER"):
        RedactionEngine().apply(ctx, (ob,))


def test_other_kinds_are_ignored(make_ctx: Callable[..., GateContext]) -> None:
    ob = Obligation(code="GENERALIZE_GEOMETRY", kind="generalize", params={})
    ctx = make_ctx({"t.csv": "id,comment\n1,a@b.org\n"}, obligations=[ob])
    assert RedactionEngine().apply(ctx, (ob,))["applied"] == []


def _reference_redaction(value: str, column: str, entities: list[str], threshold: float) -> str:
    """Redaction with plain ``AnalyzerEngine.analyze`` (no pre-filter, no shared analysis)."""
    from presidio_anonymizer import AnonymizerEngine

    from kfm_gate.evidence.recognizers import (
        build_analyzer,
        clean_results,
        context_words_for_column,
    )

    analyzer = build_analyzer(ner=False)
    text = value
    for _ in range(4):
        results = clean_results(
            text,
            analyzer.analyze(
                text=text,
                language="en",
                entities=entities,
                context=context_words_for_column(column),
                score_threshold=threshold,
            ),
        )
        if not results:
            break
        text = AnonymizerEngine().anonymize(text=text, analyzer_results=results).text  # type: ignore[no-untyped-call]
    return text


def test_redaction_matches_plain_presidio(make_ctx: Callable[..., GateContext]) -> None:
    """The run-shared, pre-filtered analysis redacts exactly what ``analyze`` finds."""
    import csv
    import io

    rows, _ = seeded_sites(rows=96)
    for row in rows[::3]:  # a date: found by Presidio, but not a type this obligation redacts
        row["notes"] = f"{row['notes']} Surveyed on 12/03/1998."
    columns = ["notes", "recorder_contact"]
    ob = redact_obligation(columns=columns, entities=ENTITIES)
    ctx = make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites", obligations=[ob])
    engine = RedactionEngine(ner=False)
    # the PII collector ran first in this run: the redaction reuses its recognizer results
    PiiCollector(ner=False).collect(ctx)
    engine.apply(ctx, (ob,))
    redacted = list(csv.DictReader(io.StringIO(ctx.files[0].public.read_text(encoding="utf-8"))))
    for row, original in zip(redacted, rows, strict=True):
        for column in columns:
            expected = _reference_redaction(
                str(original[column]), column, ENTITIES, engine.score_threshold
            )
            assert row[column] == expected
