"""PII evidence: an exact Presidio scan of the public view, fast enough for a gate.

A governance gate cannot sample, so every cell is covered; the scan is fast because it avoids
work whose answer is known:

1. **De-duplication**: each distinct value of a column is analyzed once (the column name is the
   analysis context, so the answer depends on the value and the column only).
2. **Columns that cannot hold text are skipped**: numeric, boolean and date columns (CSV cells
   are always strings, so a CSV column is always scanned).
3. **Sound pre-filter**: a pattern recognizer can only report a span its regular expressions
   match, so a value none of its patterns matches cannot give it a result (and a value without
   any character a pattern needs, e.g. a digit or ``@``, cannot match it: see
   :mod:`kfm_gate.evidence.requirements`; most values are rejected by that one cheap test); Presidio's phone
   recognizer needs a run of at least as many digits as the shortest phone number
   ``phonenumbers`` considers valid. A value no recognizer can match is not analyzed; a value
   some can match is analyzed by ``AnalyzerEngine.analyze`` restricted to their entities, which
   gives the same results (recognizers that cannot match contribute nothing). Recognizers the
   pre-filter does not understand (e.g. NER) always run.
4. **Both cores** for large tables (fork, one analyzer per process, inherited).
5. **Declared identifiers**: the council may list, per dataset, identifier columns and the
   grammar of their values (``identifier_patterns`` in ``policies/data/pii.json``). A cell of
   such a column whose whole value fully matches the column's pattern is an identifier the
   council declared not to be personal data and is not analyzed; every other cell is. Patterns
   are validated (they must compile and may not fully match probe text such as an e-mail
   address, whitespace, an SSN or a phone number), and a fully matching cell that holds ``@``
   or whitespace fails the scan: the pattern is too lax. The evidence records the patterns and
   how many cells each one skipped.

:func:`scan_frame_reference` is the plain cell-by-cell scan with the same analyzer (skipping
the same declared identifier cells); a test and the benchmark check both give identical
findings.

Evidence holds entity types, columns, cell counts, scores and row indexes: never a value, nor a
hash of one. Row indexes are 0-based data rows (CSV line = row + 2); for text artifacts they
are 1-based line numbers.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfm_gate.context import GateContext, memo_file
from kfm_gate.errors import CollectorError, ConfigError, InputError, KfmGateError
from kfm_gate.evidence.ner import (
    INSTALL_HINT,
    NER_ENTITIES,
    NerModel,
    find_ner_package,
    load_ner,
    require_ner_package,
)
from kfm_gate.evidence.recognizers import (
    PrefilterRoots,
    build_analyzer,
    clean_results,
    context_words_for_column,
    detector_names,
    guard_description,
)
from kfm_gate.evidence.tables import (
    CellPart,
    TableLimits,
    cell_parts,
    factorize_cells,
    is_nested,
    is_text_artifact,
    iter_text_lines,
    leaf_text,
    load_view_table,
    render_path,
    table_kind,
)
from kfm_gate.models import EvidenceSection

if TYPE_CHECKING:
    import pandas as pd
    from presidio_analyzer import AnalyzerEngine

#: row indexes kept per finding (enough to find the cells, not a listing)
ROWS_KEPT = 5
#: default minimum score of a reported finding
DEFAULT_SCORE_THRESHOLD = 0.4
#: below this many values to analyze, one process is faster than two
PARALLEL_MIN_VALUES = 4000

#: (entity_type, score) of one analyzed value
Hits = tuple[tuple[str, float], ...]
#: where the council declares identifier columns, relative to the policy folder
IDENTIFIER_POLICY_FILE = Path("data") / "pii.json"
#: a cell longer than this is never taken for an identifier (it is analyzed)
IDENTIFIER_MAX_CHARS = 256
#: text no identifier pattern may fully match: e-mail addresses, whitespace, common PII shapes
IDENTIFIER_PROBES: tuple[str, ...] = (
    "@",
    "a@b",
    "jane.roe@example.org",
    "hs-20177-20261103-0001@example.org",
    " ",
    "\t",
    "\n",
    "\u00a0",
    "a b",
    "hs-20177-20261103-0001 ",
    " hs-20177-20261103-0001",
    "hs-20177-20261103-0001\n",
    "hs-20177 20261103-0001",
    "hs-20045-0001 jane.roe@example.org",
    "234-56-7890",
    "234567890",
    "785-555-0142",
    "(785) 555-0142",
    "7855550142",
    "+17855550142",
    "4111111111111111",
    "192.168.0.1",
    "K12-34-5678",
    # credential shapes (the secrets scan skips declared identifiers too); assembled so that
    # this file holds no credential-shaped literal
    "AKIA" + "Q3EGYB7NPLXT4M2C",
    "ghp_" + "R8bN2kQ7vX1mZ4cL9pW3tY6hJ0sD5fG8aE2u",
    "glpat-" + "x7Kq2Vn9Lm4Pw8Rt3Yz6",
    "xoxb-" + "2048123456-4096123456-Ab3Cd5Ef7Gh9",
    "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "AIza" + "SyD4k9Xq2mV7b8N1c3L5p6R0t2W4y6Z8a0b",
    "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJrZm0ifQ." + "c2lnbmF0dXJl",
    "Zk9sT2xQeUd3cVJ0YjN6U1h2TmZpQWJj" + "ZGVmZ2hpams",
    "password=" + "hunter22",
    "token:" + "c0rrect-h0rse",
)
_NOT_IN_IDENTIFIER = re.compile(r"[@\s]")


# ---------------------------------------------------------------------------------------------
# pre-filter


@dataclass(frozen=True)
class _Check:
    entities: tuple[str, ...]
    search: Callable[[str], bool]  # True when the recognizer's own expressions could match
    recognizer: int  # index in :attr:`Prefilter.recognizers`
    #: a cheaper necessary condition of ``search`` (characters its patterns need), if any
    quick: Callable[[str], bool] | None = None

    def test(self, value: str) -> bool:
        return (self.quick is None or self.quick(value)) and self.search(value)


@dataclass(frozen=True)
class Prefilter:
    """Which recognizers (and entities) a value could possibly yield results for.

    ``recognizers`` are the analyzer's English recognizers in registry order; each has at most
    one check (a recognizer without one always runs).
    """

    checks: tuple[_Check, ...]
    always: tuple[str, ...]  # entities of recognizers without a sound pre-filter
    recognizers: tuple[Any, ...] = ()
    unchecked: tuple[int, ...] = ()  # indexes of recognizers without a sound pre-filter
    #: a necessary condition of every check (``None``: some check has none)
    any_check: Callable[[str], bool] | None = None

    def entities_for(self, value: str) -> tuple[str, ...]:
        """Entities some recognizer could report in ``value``; ``()`` means none can."""
        found = set(self.always)
        if self.any_check is not None and not self.any_check(value):
            return tuple(sorted(found))
        for check in self.checks:
            if not found.issuperset(check.entities) and check.test(value):
                found.update(check.entities)
        return tuple(sorted(found))

    def recognizers_for(self, value: str) -> tuple[int, ...]:
        """Indexes (registry order) of the recognizers that could report something in ``value``."""
        if self.any_check is not None and not self.any_check(value):
            return tuple(self.unchecked)
        hit = [c.recognizer for c in self.checks if c.test(value)]
        if not hit and not self.unchecked:
            return ()
        return tuple(sorted({*hit, *self.unchecked}))


def _phone_digit_bounds(regions: Iterable[str]) -> tuple[int, int]:
    """Fewest digits in a row of a phone number ``phonenumbers`` can report as valid.

    Returns (bound for text without a plus sign, bound for text with one). Without ``+`` a
    number is read in one of ``regions``, or after one of their international dialling prefixes;
    with ``+`` it can be any country's.
    """
    import phonenumbers
    from phonenumbers import PhoneMetadata

    def shortest(region: str) -> int | None:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.general_desc is None:
            return None
        lengths = [n for n in meta.general_desc.possible_length if n > 0]
        return min(lengths) if lengths else None

    with_code = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        b = shortest(region)
        meta = PhoneMetadata.metadata_for_region(region)
        if b is not None and meta is not None:
            with_code.append(b + len(str(meta.country_code)))
    plus_bound = min(with_code) if with_code else 1
    local = [b for r in regions if (b := shortest(r)) is not None]
    for region in regions:
        meta = PhoneMetadata.metadata_for_region(region)
        idd = (meta.international_prefix or "") if meta is not None else ""
        idd_digits = len(idd) if idd.isdigit() else 1  # a pattern: assume the shortest
        local.append(idd_digits + plus_bound)
    return max(1, min(local)) if local else 1, max(1, plus_bound)


def build_prefilter(analyzer: AnalyzerEngine) -> Prefilter:
    """The sound pre-filter of ``analyzer``'s English recognizers (see the module docstring)."""
    import regex  # type: ignore[import-untyped]
    from phonenumbers.phonenumberutil import _VALID_PUNCTUATION
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

    from kfm_gate.evidence.requirements import min_width, necessary_syntax, necessary_test

    checks: list[_Check] = []
    always: set[str] = set()
    unchecked: list[int] = []
    needs: list[tuple[str, int] | None] = []  # the requirement of every checked expression
    widths: list[int] = []  # the shortest match of every check
    recognizers = tuple(analyzer.registry.get_recognizers(language="en", all_fields=True))
    for index, recognizer in enumerate(recognizers):
        entities = tuple(recognizer.supported_entities)
        pattern_only = isinstance(recognizer, PatternRecognizer) and (
            type(recognizer).analyze is PatternRecognizer.analyze
            or isinstance(recognizer, IbanRecognizer)
        )
        patterns = getattr(recognizer, "patterns", None)
        if pattern_only and patterns:
            flags = getattr(recognizer, "global_regex_flags", 0)
            # a recognizer may declare roots: fewer expressions, one matching wherever each
            # of its patterns does (PrefilterRoots); else every pattern is searched
            if isinstance(recognizer, PrefilterRoots) and recognizer.prefilter_roots:
                expressions = list(recognizer.prefilter_roots)
            else:
                expressions = [p.regex for p in patterns]
            compiled = [regex.compile(e, flags=flags) for e in expressions]

            def pattern_test(v: str, c: list[Any] = compiled) -> bool:
                return any(p.search(v) for p in c)

            own = [necessary_syntax(e, flags) for e in expressions]
            shortest = min(min_width(e, flags) for e in expressions)
            needs.extend(own)
            widths.append(shortest)
            checks.append(_Check(entities, pattern_test, index, necessary_test(own, shortest)))
        elif type(recognizer) is PhoneRecognizer:
            local, plus = _phone_digit_bounds(recognizer.supported_regions)
            punct = regex.escape(_VALID_PUNCTUATION, special_only=True)
            sep = rf"[{punct}+\uff0b\s]*"
            local_run = regex.compile(rf"\d(?:{sep}\d){{{local - 1}}}")
            plus_run = regex.compile(rf"\d(?:{sep}\d){{{plus - 1}}}")

            def phone_test(v: str, lr: Any = local_run, pr: Any = plus_run) -> bool:
                if lr.search(v) is not None:
                    return True
                return ("+" in v or "\uff0b" in v) and pr.search(v) is not None

            needs.append((r"\d", regex.UNICODE))  # both runs start with a digit
            widths.append(min(local, plus))  # digits in a row, at the least
            checks.append(_Check(entities, phone_test, index))
        else:
            always.update(entities)
            unchecked.append(index)
    return Prefilter(
        tuple(checks),
        tuple(sorted(always)),
        recognizers,
        tuple(unchecked),
        necessary_test(needs, min(widths, default=0)),
    )


# ---------------------------------------------------------------------------------------------
# analysis of one value


def analyze_value(
    analyzer: AnalyzerEngine,
    value: str,
    context: list[str],
    score_threshold: float,
    entities: Sequence[str] | None = None,
) -> Hits:
    """``(entity_type, score)`` of the results for one value, URL-in-e-mail hits dropped."""
    results = analyzer.analyze(
        text=value,
        language="en",
        entities=list(entities) if entities is not None else None,
        context=context,
        score_threshold=score_threshold,
    )
    return tuple((r.entity_type, float(r.score)) for r in clean_results(value, results))


class ExactAnalysis:
    """``AnalyzerEngine.analyze`` (all entities) in two steps, with the same results.

    :meth:`raw` runs the recognizers on a value: it does not depend on the context, so a value
    that appears in several columns is recognized once. :meth:`score` applies Presidio's context
    enhancement for one column's context words, the score threshold and the duplicate removal,
    exactly as ``analyze`` does after its recognizer loop. Recognizers the pre-filter proves
    cannot match a value are not run (they would return nothing).
    """

    #: distinct values whose recognizer results (or ``None``: none can match) are kept
    CACHE_MAX = 20_000

    def __init__(self, analyzer: AnalyzerEngine, prefilter: Prefilter) -> None:
        self.analyzer = analyzer
        self.prefilter = prefilter
        self._raw: dict[str, tuple[Any, list[Any]] | None] = {}
        self.recognizers = list(prefilter.recognizers)
        self.entities = list(analyzer.get_supported_entities(language="en"))
        # Presidio first lets each recognizer enhance its own results; the base method returns
        # them unchanged, so when no recognizer overrides it only the context enhancer runs
        from presidio_analyzer import EntityRecognizer

        base = EntityRecognizer.enhance_using_context
        self._own_enhancers = any(
            getattr(type(r), "enhance_using_context", base) is not base for r in self.recognizers
        )

    def raw(self, value: str) -> tuple[Any, list[Any]] | None:
        """``(nlp artifacts, recognizer results)``; ``None`` when no recognizer can match."""
        from presidio_analyzer import RecognizerResult

        if value in self._raw:
            return self._raw[value]
        chosen = self.prefilter.recognizers_for(value)
        if not chosen:
            if len(self._raw) < self.CACHE_MAX:
                self._raw[value] = None
            return None
        nlp = self.analyzer.nlp_engine.process_text(value, "en")
        results: list[Any] = []
        for index in chosen:
            recognizer = self.recognizers[index]
            if not recognizer.is_loaded:
                recognizer.load()
                recognizer.is_loaded = True
            found = recognizer.analyze(text=value, entities=self.entities, nlp_artifacts=nlp)
            for result in found or ():
                meta = result.recognition_metadata
                if not meta:
                    meta = result.recognition_metadata = {}
                meta.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, recognizer.id)
                meta.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, recognizer.name)
                results.append(result)
        if len(self._raw) < self.CACHE_MAX:
            self._raw[value] = (nlp, results)
        return nlp, results

    def score(
        self, value: str, raw: tuple[Any, list[Any]], context: list[str], threshold: float
    ) -> Hits:
        """Hits of ``value`` in a column with ``context``; ``raw`` is left unchanged."""
        kept = self.results(value, raw, context, threshold)
        return tuple((r.entity_type, float(r.score)) for r in kept)

    def results(
        self,
        value: str,
        raw: tuple[Any, list[Any]],
        context: list[str],
        threshold: float,
        entities: frozenset[str] | None = None,
    ) -> list[Any]:
        """The ``RecognizerResult`` list ``analyze`` gives for ``value`` (spans included).

        ``entities`` restricts the results to those types, as ``analyze(entities=...)`` does
        when each recognizer reports the types it supports; ``raw`` is left unchanged.
        """
        from presidio_analyzer import EntityRecognizer

        nlp, results = raw
        if entities is not None:
            results = [r for r in results if r.entity_type in entities]
        if not results:
            return []
        # the context enhancer copies a result before it boosts its score
        if self._own_enhancers:
            enhanced = self.analyzer._enhance_using_context(
                value, list(results), nlp, self.recognizers, context
            )
        else:  # what the recognizer loop of _enhance_using_context would give back
            enhanced = self.analyzer.context_aware_enhancer.enhance_using_context(
                text=value,
                raw_results=list(results),
                nlp_artifacts=nlp,
                recognizers=self.recognizers,
                context=context,
            )
        kept = EntityRecognizer.remove_duplicates([r for r in enhanced if r.score >= threshold])
        return clean_results(value, kept)


def exact_analysis(analyzer: AnalyzerEngine, ctx: GateContext | None = None) -> ExactAnalysis:
    """An :class:`ExactAnalysis` of ``analyzer``; with ``ctx``, the one of this run.

    The redaction engine and the PII collector of one run share it, so a value both look at
    is recognized once (recognizer results depend on the value only). It lives in the run's
    memo and ends with the run: nothing is reused from one run to the next.
    """
    if ctx is None:
        return ExactAnalysis(analyzer, prefilter_for(analyzer))
    key = f"pii.exact:{id(analyzer)}"
    found = ctx.memo.get(key)
    if not isinstance(found, ExactAnalysis) or found.analyzer is not analyzer:
        found = ctx.memo[key] = ExactAnalysis(analyzer, prefilter_for(analyzer))
    return found


# ---------------------------------------------------------------------------------------------
# NER per column (the council's choice)


class Analyses:
    """Which analysis reads which column: patterns everywhere, NER too where the council says.

    The NER analysis (the analyzer with the spaCy recognizer) reads the columns in
    ``ner_columns``; every other column, every key and every text artifact is read by
    ``patterns``. It is given ready (``ner``) or built on first use (``load_ner``, so that a
    partition without those columns never loads the model). :attr:`ner_model` describes the
    model that ran; :attr:`ner_status` says whether and why not: ``ran``, ``columns_absent``
    (none of the files has a NER column), ``no_columns`` (the council names none for the
    dataset), ``not_installed`` or ``off``.
    """

    def __init__(
        self,
        patterns: ExactAnalysis,
        ner: ExactAnalysis | None = None,
        ner_columns: frozenset[str] = frozenset(),
        *,
        load_ner: Callable[[], tuple[ExactAnalysis, NerModel]] | None = None,
        status: str = "off",
    ) -> None:
        self.patterns = patterns
        self.ner_columns = frozenset(ner_columns)
        self._ner = ner
        self._load = load_ner
        self._model: NerModel | None = None
        self._status = status

    @property
    def has_ner(self) -> bool:
        return self._ner is not None or self._load is not None

    def index_for(self, column: str | None) -> int:
        """0 = patterns, 1 = NER (see :meth:`engine`)."""
        return 1 if self.has_ner and column in self.ner_columns else 0

    def engine(self, which: int) -> ExactAnalysis:
        """The analysis ``which`` (:meth:`index_for`); the NER one is built on first use."""
        if which == 0:
            return self.patterns
        if self._ner is None:
            if self._load is None:
                raise ConfigError("no NER analysis is configured for this scan")
            self._ner, self._model = self._load()
        return self._ner

    def engines(self, *, ner: bool) -> tuple[ExactAnalysis, ...]:
        return (self.patterns, self.engine(1)) if ner else (self.patterns,)

    @property
    def ner_model(self) -> NerModel | None:
        return self._model

    @property
    def ner_status(self) -> str:
        if self._ner is not None:
            return "ran"
        return "columns_absent" if self._load is not None else self._status

    def supported_entities(self) -> set[str]:
        found = set(self.patterns.analyzer.get_supported_entities(language="en"))
        return found | set(NER_ENTITIES) if self.has_ner else found

    def detectors(self) -> list[str]:
        names = set(detector_names(self.patterns.analyzer))
        if self._ner is not None:
            names.update(detector_names(self._ner.analyzer))
        return sorted(names)


def load_ner_columns(policy_dir: Path, dataset: str) -> frozenset[str]:
    """The columns of ``dataset`` the council has read with NER (``ner_columns`` in
    ``<policy_dir>/data/pii.json``); empty when none. A malformed entry is an InputError."""
    path = policy_dir / IDENTIFIER_POLICY_FILE
    if not path.is_file():
        return frozenset()
    where = f"{IDENTIFIER_POLICY_FILE.as_posix()}: "
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{where}cannot be read as JSON ({err})") from err
    by_dataset = doc.get("ner_columns", {}) if isinstance(doc, dict) else None
    if not isinstance(by_dataset, dict):
        raise InputError(f"{where}ner_columns must map dataset -> [column, ...]")
    columns = by_dataset.get(dataset, [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
        raise InputError(f"{where}ner_columns[{dataset!r}] must be a list of column names")
    return frozenset(columns)


def run_analyses(ctx: GateContext, ner: bool | None = None) -> Analyses:
    """The run's :class:`Analyses` (shared by the redaction engine and the PII collector).

    ``ner``: ``False`` patterns only; ``None`` NER on the council's ``ner_columns`` when a
    model is installed; ``True`` the same, but a missing model is a :class:`ConfigError`
    (with the install hint) when the council asks for NER columns.
    """
    columns = memo_file(
        ctx.memo,
        f"ner_columns|{ctx.request.dataset}",
        ctx.policies / IDENTIFIER_POLICY_FILE,
        lambda: load_ner_columns(ctx.policies, ctx.request.dataset),
    )
    patterns = exact_analysis(build_analyzer(ner=False), ctx)
    if ner is False:
        return Analyses(patterns, ner_columns=columns, status="off")
    package = require_ner_package() if ner else find_ner_package()
    if not columns:
        return Analyses(patterns, status="no_columns")
    if package is None:
        return Analyses(patterns, ner_columns=columns, status="not_installed")
    found = package

    def load() -> tuple[ExactAnalysis, NerModel]:
        analyzer = build_analyzer(ner=True)
        return exact_analysis(analyzer, ctx), load_ner(found)[1]

    return Analyses(patterns, ner_columns=columns, load_ner=load)


@dataclass
class _WorkerState:
    exacts: tuple[ExactAnalysis, ...]
    threshold: float
    contexts: list[list[str]]


_STATE: _WorkerState | None = None

#: one distinct (analysis, value) and the contexts (indexes) it is scored in
Item = tuple[int, str, tuple[int, ...]]


def _analyze_items(items: Sequence[Item]) -> list[tuple[Hits | None, ...]]:
    """Hits per value and context; ``None`` when the pre-filter proved no recognizer can match."""
    state = _STATE
    assert state is not None, "worker state is set before the pool starts"
    out: list[tuple[Hits | None, ...]] = []
    for which, value, context_indexes in items:
        exact = state.exacts[which]
        raw = exact.raw(value)
        if raw is None:
            out.append((None,) * len(context_indexes))
            continue
        out.append(
            tuple(
                exact.score(value, raw, state.contexts[c], state.threshold) for c in context_indexes
            )
        )
    return out


def _run_items(
    items: list[Item], state: _WorkerState, workers: int
) -> list[tuple[Hits | None, ...]]:
    global _STATE
    _STATE = state
    try:
        methods = multiprocessing.get_all_start_methods()
        if workers <= 1 or len(items) < PARALLEL_MIN_VALUES or "fork" not in methods:
            return _analyze_items(items)
        chunks = max(workers * 8, 1)
        size = -(-len(items) // chunks)
        parts = [items[i : i + size] for i in range(0, len(items), size)]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(processes=workers) as pool:
            results = pool.map(_analyze_items, parts, chunksize=1)
        return [hits for part in results for hits in part]
    finally:
        _STATE = None


# ---------------------------------------------------------------------------------------------
# declared identifiers


def compile_identifier_pattern(column: str, pattern: object, where: str = "") -> re.Pattern[str]:
    """The compiled identifier pattern of ``column``; :class:`InputError` when it is unusable.

    A pattern must be a string that compiles (Python ``re``, applied with ``fullmatch``) and
    that fully matches none of :data:`IDENTIFIER_PROBES` (PII and credential shapes).
    """
    name = f"{where}identifier_patterns: column {column!r}"
    if not isinstance(pattern, str) or not pattern:
        raise InputError(f"{name}: the pattern must be a non-empty string (a regular expression)")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise InputError(f"{name}: pattern {pattern!r} does not compile: {err}") from err
    for probe in IDENTIFIER_PROBES:
        if compiled.fullmatch(probe) is not None:
            raise InputError(
                f"{name}: pattern {pattern!r} also matches {probe!r}; an identifier pattern may "
                "not match text with '@' or whitespace, nor a plain e-mail, SSN, phone, card or "
                "IP address: make it stricter"
            )
    return compiled


def identifier_patterns(ctx: GateContext) -> dict[str, re.Pattern[str]]:
    """:func:`load_identifier_patterns` for the run's dataset, read and checked once per run
    (the PII and the secrets scans both use them)."""
    path = ctx.policies / IDENTIFIER_POLICY_FILE
    dataset = ctx.request.dataset
    return memo_file(
        ctx.memo,
        f"identifiers|{dataset}",
        path,
        lambda: load_identifier_patterns(ctx.policies, dataset),
    )


def load_identifier_patterns(policy_dir: Path, dataset: str) -> dict[str, re.Pattern[str]]:
    """``{column: pattern}`` the council declared for ``dataset`` (``{}`` when none).

    Read from ``<policy_dir>/data/pii.json``, key ``identifier_patterns[dataset]``. A file or
    entry that cannot be used raises :class:`InputError` (a scan never silently skips more or
    less than the council wrote).
    """
    path = policy_dir / IDENTIFIER_POLICY_FILE
    if not path.is_file():
        return {}
    where = f"{IDENTIFIER_POLICY_FILE.as_posix()}: "
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{where}cannot be read as JSON ({err})") from err
    if not isinstance(doc, dict):
        raise InputError(f"{where}expected a JSON object")
    by_dataset = doc.get("identifier_patterns", {})
    if not isinstance(by_dataset, dict):
        raise InputError(f"{where}identifier_patterns must map dataset -> {{column: pattern}}")
    columns = by_dataset.get(dataset, {})
    if not isinstance(columns, dict):
        raise InputError(
            f"{where}identifier_patterns[{dataset!r}] must map column -> pattern (a string)"
        )
    return {
        str(column): compile_identifier_pattern(str(column), pattern, where)
        for column, pattern in sorted(columns.items())
    }


def is_declared_identifier(pattern: re.Pattern[str], text: str, column: str) -> bool:
    """Whether the cell ``text`` of ``column`` is a declared identifier (and is not analyzed).

    True when the whole value fully matches ``pattern``. A fully matching value holding ``@``
    or whitespace raises :class:`InputError`: the pattern is too lax to be trusted (the message
    names the column and pattern, never the value).
    """
    if len(text) > IDENTIFIER_MAX_CHARS or pattern.fullmatch(text) is None:
        return False
    if _NOT_IN_IDENTIFIER.search(text) is not None:
        raise InputError(
            f"identifier pattern {pattern.pattern!r} of column {column!r} fully matches a cell "
            "holding '@' or whitespace: make the pattern in policies/data/pii.json stricter"
        )
    return True


# ---------------------------------------------------------------------------------------------
# scanning a table


@dataclass
class ScanStats:
    """Work done by one scan (recorded as evidence; it shows the scan was complete)."""

    cells: int = 0
    unique_values: int = 0
    analyzed_values: int = 0
    columns_scanned: list[str] = field(default_factory=list)
    columns_skipped: list[str] = field(default_factory=list)
    #: per column with a declared identifier pattern: cells not analyzed (counted in ``cells``)
    identifier_cells_skipped: dict[str, int] = field(default_factory=dict)
    #: cells holding an object or an array (their keys and leaves are analyzed)
    nested_cells: int = 0
    #: column names analyzed (a column name can hold personal data too)
    keys_scanned: int = 0


@dataclass(frozen=True)
class Finding:
    """Where one entity type was found in one column: counts, rows and paths, never values."""

    cells: int
    max_score: float
    rows: tuple[int, ...]  # the first ROWS_KEPT rows (0-based)
    paths: tuple[str, ...] = ()  # the first ROWS_KEPT distinct paths (``notes.contact[2]``)


#: ``{(column label, entity_type, part): Finding}``; ``part`` says where the text sits: the
#: cell's value or a leaf below it (``value``), a key inside the cell (``key``), or the column
#: name itself (``column_name``). A column whose name holds personal data is labelled
#: ``<key#i>`` (its position), never by its name
Findings = dict[tuple[str | None, str, str], Finding]


def text_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(columns that can hold text, columns that cannot: booleans, dates, fractions).

    Integer columns are scanned (a phone number or card stored as a number); a float column is
    scanned when it holds an integral value (read as an integer, ``7855550142.0``).
    """
    import numpy as np
    import pandas as pd

    scanned: list[str] = []
    skipped: list[str] = []
    for column in frame.columns:
        dtype = frame[column].dtype
        if (
            pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, pd.PeriodDtype)
        ):
            skipped.append(str(column))
        elif pd.api.types.is_float_dtype(dtype):
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            integral = np.isfinite(values) & (values == np.floor(values))
            (scanned if bool(integral.any()) else skipped).append(str(column))
        else:
            scanned.append(str(column))
    return scanned, skipped


def _part_words(base: list[str], part: CellPart) -> list[str]:
    """Context words of a text in a cell: the column's, then the keys above it."""
    path = part.path[:-1] if part.is_key else part.path
    extra = [w for seg in path if isinstance(seg, tuple) for w in context_words_for_column(seg[0])]
    return base + extra if extra else base


def _cell_texts(
    value: Any, column: str, identifier: re.Pattern[str] | None, limits: TableLimits
) -> tuple[list[CellPart], bool, bool]:
    """``(parts, present, declared)`` of one cell: the texts to analyze, whether the cell holds
    text at all, and whether it is a declared identifier (then nothing is analyzed)."""
    if is_nested(value):
        parts = cell_parts(value, limits, f"column {column!r}: ")
        return parts, bool(parts), False
    text = leaf_text(value)
    if text is None:
        return [], False, False
    if identifier is not None and is_declared_identifier(identifier, text, column):
        return [], True, True
    return [CellPart((), text)], True, False


class _Aggregate:
    """Findings of one column from the hits of its cells (shared by the fast and plain scans)."""

    def __init__(self) -> None:
        self.best: dict[tuple[str, str], dict[int, float]] = {}  # (entity, part) -> code -> score
        self.paths: dict[tuple[str, str], set[tuple[Any, ...]]] = {}

    def add(self, code: int, part: CellPart, hits: Hits | None) -> None:
        kind = "key" if part.is_key else "value"
        for entity, score in hits or ():
            slot = self.best.setdefault((entity, kind), {})
            slot[code] = max(score, slot.get(code, 0.0))
            self.paths.setdefault((entity, kind), set()).add(part.path)

    def findings(
        self, label: str, codes: Any, counts: Any, hidden: frozenset[str]
    ) -> dict[tuple[str | None, str, str], Finding]:
        import numpy as np

        out: dict[tuple[str | None, str, str], Finding] = {}
        for (entity, kind), code_scores in self.best.items():
            wanted = np.fromiter(code_scores, dtype=np.int64)
            rows = np.flatnonzero(np.isin(codes, wanted))[:ROWS_KEPT]
            paths = sorted({render_path(label, p, hidden) for p in self.paths[(entity, kind)]})
            out[(label, entity, kind)] = Finding(
                int(counts[wanted].sum()),
                max(code_scores.values()),
                tuple(int(r) for r in rows),
                tuple(paths[:ROWS_KEPT]),
            )
        return out


def _hidden_keys(parts_hits: Iterable[tuple[CellPart, Hits | None]]) -> set[str]:
    return {part.text for part, hits in parts_hits if part.is_key and hits}


def _column_labels(frame: pd.DataFrame, column_hits: Mapping[str, Hits | None]) -> dict[str, str]:
    """Each column's name as evidence shows it: ``<key#i>`` when the name itself holds PII."""
    return {
        str(c): (f"<key#{i}>" if column_hits.get(str(c)) else str(c))
        for i, c in enumerate(frame.columns)
    }


def _column_name_findings(
    column_hits: Mapping[str, Hits | None], labels: Mapping[str, str]
) -> dict[tuple[str | None, str, str], Finding]:
    out: dict[tuple[str | None, str, str], Finding] = {}
    for column, hits in column_hits.items():
        best: dict[str, float] = {}
        for entity, score in hits or ():
            best[entity] = max(score, best.get(entity, 0.0))
        for entity, score in best.items():
            label = labels[column]
            out[(label, entity, "column_name")] = Finding(1, score, (), (label,))
    return out


def scan_frame(
    frame: pd.DataFrame,
    *,
    analyzer: AnalyzerEngine | None = None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    workers: int | None = None,
    prefilter: Prefilter | None = None,
    columns: Sequence[str] | None = None,
    contexts: dict[str, list[str]] | None = None,
    identifiers: Mapping[str, re.Pattern[str]] | None = None,
    exact: ExactAnalysis | None = None,
    analyses: Analyses | None = None,
    limits: TableLimits | None = None,
    keys: bool = True,
) -> tuple[Findings, ScanStats]:
    """Exact PII scan of ``frame`` (see the module docstring).

    Every text is looked at: string cells, integral numbers, the keys and leaves of cells that
    hold objects or arrays (paths such as ``notes.contact[2]``), and (``keys``) the column
    names. ``identifiers`` (``{column: pattern}``, see :func:`load_identifier_patterns`): cells
    of those columns that are declared identifiers are counted but not analyzed.
    ``analyses``: which analysis reads which column (NER per column, :func:`run_analyses`);
    without it, ``exact`` (the run's :class:`ExactAnalysis` of ``analyzer``) reads every column.
    """
    import numpy as np

    lim = limits or TableLimits()
    if analyses is None:
        engine = analyzer if analyzer is not None else build_analyzer()
        pre = prefilter if prefilter is not None else prefilter_for(engine)
        if exact is None or exact.analyzer is not engine or exact.prefilter is not pre:
            exact = ExactAnalysis(engine, pre)
        analyses = Analyses(exact)
    scanned, skipped = text_columns(frame)
    if columns is not None:
        skipped += [c for c in scanned if c not in columns]
        scanned = [c for c in scanned if c in columns]
    state = _WorkerState((), float(score_threshold), [])

    context_of: dict[tuple[str, ...], int] = {}
    item_of: dict[tuple[int, str], int] = {}  # (analysis, distinct text) -> index in ``items``
    items: list[tuple[int, str]] = []
    value_contexts: list[dict[int, int]] = []  # per item: context index -> position

    def slot(which: int, text: str, words: list[str]) -> tuple[int, int]:
        key = tuple(words)
        context = context_of.get(key)
        if context is None:
            context = context_of[key] = len(state.contexts)
            state.contexts.append(list(words))
        item = item_of.get((which, text))
        if item is None:
            item = item_of[(which, text)] = len(items)
            items.append((which, text))
            value_contexts.append({})
        positions = value_contexts[item]
        return item, positions.setdefault(context, len(positions))

    # the column names (keys of the table) are texts too, read with the patterns
    name_slots = {c: slot(0, c, []) for c in scanned if keys and c.strip()}

    stats = ScanStats()
    per_column: list[tuple[str, Any, list[list[tuple[CellPart, int, int]]]]] = []
    for column in scanned:
        codes, uniques = factorize_cells(frame[column])
        which = analyses.index_for(column)
        words_given = (contexts or {}).get(column)
        base = words_given if words_given is not None else context_words_for_column(column)
        identifier = (identifiers or {}).get(column)
        entries: list[list[tuple[CellPart, int, int]]] = []
        present: list[bool] = []
        declared: list[bool] = []
        nested: list[bool] = []
        for value in uniques:
            parts, has_text, is_declared = _cell_texts(value, column, identifier, lim)
            present.append(has_text)
            declared.append(is_declared)
            nested.append(is_nested(value))
            entries.append([(p, *slot(which, p.text, _part_words(base, p))) for p in parts])
        valid = codes >= 0
        if len(present):
            stats.cells += int(np.asarray(present, dtype=bool)[codes[valid]].sum())
            stats.nested_cells += int(np.asarray(nested, dtype=bool)[codes[valid]].sum())
        if identifier is not None:
            counted = np.asarray(declared, dtype=bool)[codes[valid]] if len(declared) else []
            stats.identifier_cells_skipped[column] = int(np.sum(counted))
        per_column.append((column, codes, entries))
    stats.unique_values = sum(len(p) for p in value_contexts) - len(name_slots)
    stats.keys_scanned = len(name_slots)

    state.exacts = analyses.engines(ner=any(which == 1 for which, _ in items))
    work: list[Item] = [
        (which, text, tuple(value_contexts[i])) for i, (which, text) in enumerate(items)
    ]
    hits = _run_items(work, state, _workers(workers))
    stats.analyzed_values = sum(1 for per in hits for h in per if h is not None)

    def hits_of(item: int, position: int) -> Hits | None:
        return hits[item][position]

    column_hits = {c: hits_of(*s) for c, s in name_slots.items()}
    labels = _column_labels(frame, column_hits)
    hidden = frozenset(
        part.text
        for _, _, entries in per_column
        for cell in entries
        for part, item, position in cell
        if part.is_key and hits_of(item, position)
    )
    findings: Findings = _column_name_findings(column_hits, labels)
    for column, codes, entries in per_column:
        agg = _Aggregate()
        for code, cell in enumerate(entries):
            for part, item, position in cell:
                agg.add(code, part, hits_of(item, position))
        if agg.best:
            counts = np.bincount(codes[codes >= 0], minlength=len(entries))
            findings.update(agg.findings(labels[column], codes, counts, hidden))
    stats.columns_scanned = [labels[c] for c in scanned]
    stats.columns_skipped = sorted(labels.get(c, c) for c in skipped)
    return findings, stats


def scan_frame_reference(
    frame: pd.DataFrame,
    *,
    analyzer: AnalyzerEngine | None = None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    columns: Sequence[str] | None = None,
    identifiers: Mapping[str, re.Pattern[str]] | None = None,
    ner_analyzer: AnalyzerEngine | None = None,
    ner_columns: Iterable[str] = (),
    limits: TableLimits | None = None,
    keys: bool = True,
) -> Findings:
    """The plain scan: ``AnalyzerEngine.analyze`` on every text of every cell, no
    de-duplication, no filter; ``ner_analyzer`` reads the ``ner_columns``.

    Reads the same texts as :func:`scan_frame` (cells, keys and leaves of nested cells, column
    names) and skips the same declared ``identifiers`` (checked cell by cell).
    """
    import numpy as np

    lim = limits or TableLimits()
    engine = analyzer if analyzer is not None else build_analyzer()
    wanted = frozenset(ner_columns) if ner_analyzer is not None else frozenset()
    scanned, _ = text_columns(frame)
    if columns is not None:
        scanned = [c for c in scanned if c in columns]
    column_hits: dict[str, Hits | None] = {
        c: analyze_value(engine, c, [], score_threshold) for c in scanned if keys and c.strip()
    }
    labels = _column_labels(frame, column_hits)
    per_column = []
    for column in scanned:
        use = ner_analyzer if column in wanted and ner_analyzer is not None else engine
        base = context_words_for_column(column)
        identifier = (identifiers or {}).get(column)
        cells: list[list[tuple[CellPart, Hits]]] = []
        for value in frame[column].tolist():
            parts, _, _ = _cell_texts(value, column, identifier, lim)
            cells.append(
                [
                    (p, analyze_value(use, p.text, _part_words(base, p), score_threshold))
                    for p in parts
                ]
            )
        per_column.append((column, cells))
    hidden = frozenset(
        text for _, cells in per_column for cell in cells for text in _hidden_keys(cell)
    )
    findings: Findings = _column_name_findings(column_hits, labels)
    for column, cells in per_column:
        agg = _Aggregate()
        for row, cell in enumerate(cells):
            for part, part_hits in cell:
                agg.add(row, part, part_hits)
        if agg.best:
            codes = np.arange(len(cells), dtype=np.int64)
            counts = np.ones(len(cells), dtype=np.int64)
            findings.update(agg.findings(labels[column], codes, counts, hidden))
    return findings


_PREFILTERS: dict[int, tuple[AnalyzerEngine, Prefilter]] = {}


def prefilter_for(analyzer: AnalyzerEngine) -> Prefilter:
    """The pre-filter of ``analyzer``, built once per process and analyzer."""
    key = id(analyzer)
    cached = _PREFILTERS.get(key)
    if cached is None or cached[0] is not analyzer:
        cached = _PREFILTERS[key] = (analyzer, build_prefilter(analyzer))
    return cached[1]


def _workers(workers: int | None) -> int:
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"pii workers must be >= 1, got {workers}")
        return workers
    return max(1, min(2, os.cpu_count() or 1))


def scan_text_file(
    path: Path,
    *,
    analyzer: AnalyzerEngine | None = None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    limits: TableLimits | None = None,
    exact: ExactAnalysis | None = None,
) -> list[dict[str, Any]]:
    """PII findings of a text artifact (run log, report), one line = one cell.

    A line is read whole, so the keys and nested values of a JSON line are looked at too.
    Returns ``[{entity_type, line_count, max_score, lines[]}]`` sorted by type; no values.
    Raises :class:`~kfm_gate.errors.InputError` for binary, non-UTF-8 or over-long input.
    """
    import pandas as pd

    lines = list(iter_text_lines(path, limits))
    if not lines:
        return []
    frame = pd.DataFrame({"text": [line for _, line in lines]}, dtype=object)
    numbers = [n for n, _ in lines]
    findings, _ = scan_frame(
        frame,
        analyzer=analyzer,
        score_threshold=score_threshold,
        workers=1,
        contexts={"text": []},
        exact=exact,
        limits=limits,
        keys=False,
    )
    out = []
    for (_, entity, _), found in sorted(findings.items(), key=lambda kv: kv[0][1]):
        out.append(
            {
                "entity_type": entity,
                "line_count": found.cells,
                "max_score": round(found.max_score, 4),
                "lines": [numbers[r] for r in found.rows],
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# the collector


class PiiCollector:
    """Section ``pii``: Presidio findings on the public view (tables and text artifacts).

    Settings: ``ner`` (``None`` = NER on the council's ``ner_columns`` if a model is
    installed, ``True`` = a missing model fails the collector, ``False`` = patterns only),
    ``score_threshold`` (minimum score reported; a result counts when its score is at or above
    it), ``workers`` (processes for large tables; default both cores), ``limits`` (file, cell
    and nesting size).

    The council's identifier patterns and NER columns for the request's dataset are read from
    ``<policy_dir>/data/pii.json`` (``identifier_patterns``, ``ner_columns``) at each collection.
    """

    name = "pii"

    def __init__(
        self,
        *,
        ner: bool | None = None,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        workers: int | None = None,
        limits: TableLimits | None = None,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ConfigError(f"pii score_threshold must be within 0..1, got {score_threshold}")
        self.ner = ner
        self.score_threshold = float(score_threshold)
        self.workers = workers
        self.limits = limits

    def collect(self, ctx: GateContext) -> EvidenceSection:
        limits = self.limits or TableLimits.from_settings(ctx.settings)
        try:
            identifiers = identifier_patterns(ctx)
            analyses = run_analyses(ctx, self.ner)
            findings: list[dict[str, Any]] = []
            files: list[dict[str, Any]] = []
            total_cells = 0
            skipped = dict.fromkeys(identifiers, 0)
            for view in sorted(ctx.files, key=lambda f: f.relpath):
                entry, file_findings, cells = self._scan_file(
                    view.public, view, analyses, limits, identifiers, ctx.memo
                )
                files.append(entry)
                findings.extend(file_findings)
                total_cells += cells
                for column, n in entry.get("identifier_cells_skipped", {}).items():
                    skipped[column] = skipped.get(column, 0) + n
        except KfmGateError as err:
            raise CollectorError(f"pii: {err}") from err
        counts: dict[str, int] = {}
        for f in findings:
            counts[f["entity_type"]] = counts.get(f["entity_type"], 0) + f["cells"]
        if analyses.ner_status == "not_installed":
            ctx.log(
                f"pii: NER columns {sorted(analyses.ner_columns)} read with patterns only: "
                f"no NER model is installed; {INSTALL_HINT}"
            )
        ctx.log(
            f"pii: {total_cells} cells scanned in {len(files)} file(s) "
            f"({sum(skipped.values())} declared identifier cells not analyzed), "
            f"{sum(counts.values())} cells with findings"
        )
        model = analyses.ner_model
        return EvidenceSection(
            collector=type(self).__name__,
            data={
                "detectors": analyses.detectors(),
                "guard": guard_description(),
                "ner": model is not None,
                "ner_status": analyses.ner_status,
                "ner_model": model.to_json() if model is not None else None,
                "ner_columns": sorted(analyses.ner_columns),
                "score_threshold": self.score_threshold,
                "threshold_rule": "score >= score_threshold",
                "exact": True,
                "counts_by_type": dict(sorted(counts.items())),
                "findings": findings,
                "total_cells": total_cells,
                "identifier_patterns": {c: p.pattern for c, p in identifiers.items()},
                "identifier_cells_skipped": skipped,
                "files": files,
            },
        )

    def _scan_file(
        self,
        path: Path,
        view: Any,
        analyses: Analyses,
        limits: TableLimits,
        identifiers: Mapping[str, re.Pattern[str]],
        memo: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        kind = table_kind(path, view.media_type)
        if kind is not None:
            frame = load_view_table(memo, path, view.media_type, limits)
            found, stats = scan_frame(
                frame,
                score_threshold=self.score_threshold,
                workers=self.workers,
                identifiers=identifiers,
                analyses=analyses,
                limits=limits,
            )
            entry = {
                "file": view.relpath,
                "kind": kind,
                "rows": len(frame),
                "cells": stats.cells,
                "nested_cells": stats.nested_cells,
                "column_names_scanned": stats.keys_scanned,
                "unique_values": stats.unique_values,
                "analyzed_values": stats.analyzed_values,
                "columns_scanned": stats.columns_scanned,
                "columns_skipped": stats.columns_skipped,
                "identifier_cells_skipped": stats.identifier_cells_skipped,
            }
            out = [
                {
                    "entity_type": entity,
                    "file": view.relpath,
                    "column": column,
                    "part": part,
                    "cells": f.cells,
                    "max_score": round(f.max_score, 4),
                    "rows": list(f.rows),
                    "paths": list(f.paths),
                }
                for (column, entity, part), f in sorted(
                    found.items(), key=lambda kv: (str(kv[0][0]), kv[0][1], kv[0][2])
                )
            ]
            return entry, out, stats.cells
        if is_text_artifact(path, view.media_type):
            lines = scan_text_file(
                path,
                score_threshold=self.score_threshold,
                limits=limits,
                exact=analyses.patterns,
            )
            entry = {"file": view.relpath, "kind": "text"}
            out = [
                {
                    "entity_type": f["entity_type"],
                    "file": view.relpath,
                    "column": None,
                    "part": "line",
                    "cells": f["line_count"],
                    "max_score": f["max_score"],
                    "rows": f["lines"],
                    "paths": [],
                }
                for f in lines
            ]
            return entry, out, sum(1 for _ in iter_text_lines(path, limits))
        return {"file": view.relpath, "kind": "skipped", "reason": "not text"}, [], 0
