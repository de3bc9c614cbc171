"""The ``redact`` obligation: replace PII spans with ``<ENTITY_TYPE>`` in the public view.

Obligation params (all optional)::

    {"columns": ["notes", "recorder_contact"],   # table columns to redact (CSV, GeoJSON)
     "entities": ["EMAIL_ADDRESS", "US_SSN"],     # types to replace; default: all but DATE_TIME
     "text": true}                                # also redact text artifacts line by line

Spans come from the same Presidio analyzer as the PII collector, at a threshold at or below
the collector's, and are replaced by presidio-anonymizer (``replace`` operator). The spans are
those ``AnalyzerEngine.analyze`` gives for the requested types; the recognizers run through the
run's :class:`~kfm_gate.evidence.pii.ExactAnalysis`, which skips recognizers that provably
cannot match and which the PII collector of the same run reuses for values left unchanged. A redacted
value is analyzed again until nothing of the requested types is left (at most a few passes),
so the re-scan of the public view comes back clean for those types. The report names files,
columns and counts of cells and spans by type, never a value.

A GeoJSON property may hold an object or an array: every key and every leaf below it is
redacted too (a number that is a phone number becomes the redacted text; a key that holds
personal data is renamed, ``<EMAIL_ADDRESS>``, ``<EMAIL_ADDRESS>#2`` if that name is taken),
with the same context words as the scan (the column's, then the keys above), so that the scan
finds nothing of the requested types there afterwards. Column names themselves are never
rewritten: a column name that holds personal data stays a finding and the policy refuses the
partition. Columns are read by the same analyses as the PII collector (NER on the council's
``ner_columns`` when a model is installed).
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path
from typing import Any

from kfm_gate.context import GateContext, ViewFile
from kfm_gate.errors import InputError, KfmGateError, ObligationError
from kfm_gate.evidence.ner import NER_ENTITIES
from kfm_gate.evidence.pii import DEFAULT_SCORE_THRESHOLD, Analyses, ExactAnalysis, run_analyses
from kfm_gate.evidence.recognizers import context_words_for_column
from kfm_gate.evidence.tables import (
    TableLimits,
    decode_text,
    is_text_artifact,
    leaf_text,
    parse_json,
    read_text,
    table_kind,
)
from kfm_gate.models import Obligation

#: types left in place unless an obligation names them (historic dates are the data)
KEPT_BY_DEFAULT = frozenset({"DATE_TIME"})
MAX_PASSES = 4


class RedactionEngine:
    """Applies ``redact`` obligations to the public view, in place (CSV, GeoJSON, text)."""

    name = "redaction"
    kinds = frozenset({"redact"})

    def __init__(
        self,
        *,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD - 0.1,
        ner: bool | None = None,
        limits: TableLimits | None = None,
    ) -> None:
        self.score_threshold = float(score_threshold)
        self.ner = ner
        self.limits = limits

    def changed_columns(self, obligation: Obligation) -> frozenset[str] | None:
        """The columns whose cell values ``obligation`` may change (rows and columns stay);
        None when it may also rewrite text files (``params.text``)."""
        if obligation.params.get("text"):
            return None
        columns = obligation.params.get("columns", [])
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            return None  # apply() will refuse it; promise nothing
        return frozenset(columns)

    def apply(self, ctx: GateContext, obligations: tuple[Obligation, ...]) -> dict[str, Any]:
        limits = self.limits or TableLimits.from_settings(ctx.settings)
        applied = []
        for obligation in obligations:
            if obligation.kind not in self.kinds:
                continue
            try:
                applied.append(self._apply_one(ctx, obligation, limits))
            except KfmGateError as err:
                raise ObligationError(
                    f"redact obligation {obligation.code} could not be applied: {err}"
                ) from err
        return {
            "engine": type(self).__name__,
            "applied_codes": sorted(a["code"] for a in applied if a["applied"]),
            "applied": applied,
        }

    # -----------------------------------------------------------------------------------------

    def _apply_one(self, ctx: GateContext, ob: Obligation, limits: TableLimits) -> dict[str, Any]:
        params = ob.params
        columns = params.get("columns", [])
        entities = params.get("entities")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ObligationError(f"{ob.code}: params.columns must be a list of column names")
        if entities is not None and (
            not isinstance(entities, list) or not all(isinstance(e, str) for e in entities)
        ):
            raise ObligationError(f"{ob.code}: params.entities must be a list of entity types")
        analyses = run_analyses(ctx, self.ner)
        wanted, unavailable = self._entities(analyses, entities)
        redactor = _Redactor(analyses, wanted, self.score_threshold, limits)
        files = []
        seen_columns: set[str] = set()
        for view in sorted(ctx.files, key=lambda f: f.relpath):
            kind = table_kind(view.public, view.media_type)
            if kind == "csv" and columns:
                report = _redact_csv(view, columns, redactor, limits)
            elif kind == "geojson" and columns:
                report = _redact_geojson(view, columns, redactor, limits)
            elif (
                kind is None
                and params.get("text")
                and is_text_artifact(view.public, view.media_type)
            ):
                report = _redact_text(view, redactor, limits)
            elif kind == "parquet" and columns:
                raise ObligationError(
                    f"{view.relpath}: redaction of Parquet is not supported; publish CSV or GeoJSON"
                )
            else:
                continue
            seen_columns.update(report.get("columns", []))
            files.append(report)
        ctx.log(
            f"redaction: {ob.code}: {sum(f['cells_redacted'] for f in files)} cell(s) redacted "
            f"in {len(files)} file(s)"
        )
        spans: dict[str, int] = {}
        for f in files:
            for k, v in f["spans_by_type"].items():
                spans[k] = spans.get(k, 0) + v
        return {
            "code": ob.code,
            "kind": ob.kind,
            "engine": type(self).__name__,
            "applied": True,
            "entities": sorted(wanted),
            "entities_not_looked_for": unavailable,
            "columns": sorted(columns),
            "missing_columns": sorted(set(columns) - seen_columns),
            "files": files,
            "cells_redacted": sum(f["cells_redacted"] for f in files),
            "spans_by_type": dict(sorted(spans.items())),
        }

    @staticmethod
    def _entities(
        analyses: Analyses, entities: list[str] | None
    ) -> tuple[frozenset[str], list[str]]:
        """``(types to redact, NER types asked for that no model can find here)``.

        The NER types (PERSON, LOCATION) are known even without a model: nothing finds them
        then (the PII scan neither), and the report says so. Any other unknown type fails.
        """
        supported = analyses.supported_entities()
        if entities is None:
            return frozenset(supported - KEPT_BY_DEFAULT), []
        unavailable = sorted((set(entities) - supported) & set(NER_ENTITIES))
        unknown = sorted(set(entities) - supported - set(NER_ENTITIES))
        if unknown:
            raise ObligationError(
                f"params.entities names types no detector finds: {unknown}; "
                f"known: {sorted(supported | set(NER_ENTITIES))}"
            )
        return frozenset(entities) - set(unavailable), unavailable


class _Redactor:
    """Redacts one value (cached per analysis, context and value)."""

    def __init__(
        self,
        analyses: Analyses,
        entities: frozenset[str],
        threshold: float,
        limits: TableLimits | None = None,
    ) -> None:
        self.analyses = analyses
        self.threshold = threshold
        self.limits = limits or TableLimits()
        self.anonymizer: Any = _anonymizer()
        self.wanted = frozenset(entities)
        self.cache: dict[tuple[int, tuple[str, ...], str], tuple[str, dict[str, int]]] = {}

    def redact(
        self, value: str, column: str | None, keys: tuple[str, ...] = ()
    ) -> tuple[str, dict[str, int]]:
        """``value`` of ``column`` (below the object ``keys``, if nested), redacted."""
        context = context_words_for_column(column)
        for key in keys:
            context += context_words_for_column(key)
        which = self.analyses.index_for(column)
        cache_key = (which, tuple(context), value)
        if cache_key in self.cache:
            return self.cache[cache_key]
        exact: ExactAnalysis = self.analyses.engine(which)
        text = value
        spans: dict[str, int] = {}
        for _ in range(MAX_PASSES):
            raw = exact.raw(text)
            if raw is None:
                break
            results = exact.results(text, raw, context, self.threshold, self.wanted)
            if not results:
                break
            for r in results:
                spans[r.entity_type] = spans.get(r.entity_type, 0) + 1
            text = self.anonymizer.anonymize(text=text, analyzer_results=results).text
        else:
            raise ObligationError(
                f"a value of column {column!r} still had findings after {MAX_PASSES} passes"
            )
        self.cache[cache_key] = (text, spans)
        return text, spans

    def redact_cell(self, value: Any, column: str) -> tuple[Any, dict[str, int]]:
        """A GeoJSON property value redacted: a string, a number read as text, or every key and
        leaf of an object or array (the structure is kept)."""
        spans: dict[str, int] = {}
        new = self._walk(value, column, (), spans, 0)
        return new, spans

    def _walk(
        self, value: Any, column: str, keys: tuple[str, ...], spans: dict[str, int], depth: int
    ) -> Any:
        if isinstance(value, dict):
            self._depth(depth, column)
            out: dict[str, Any] = {}
            original = {str(k) for k in value}
            for key, child in value.items():
                name = str(key)
                new_name, found = self.redact(name, column, keys) if name.strip() else (name, {})
                _count(spans, found)
                if found:  # a renamed key takes a name no other key of the object has
                    new_name = _unique(new_name, original | set(out))
                out[new_name] = self._walk(child, column, (*keys, name), spans, depth + 1)
            return out
        if isinstance(value, list):
            self._depth(depth, column)
            return [self._walk(v, column, keys, spans, depth + 1) for v in value]
        text = leaf_text(value)
        if text is None:
            return value
        new, found = self.redact(text, column, keys)
        if not found:
            return value
        _count(spans, found)
        return new

    def _depth(self, depth: int, column: str) -> None:
        if depth >= self.limits.max_depth:
            raise InputError(
                f"column {column!r}: a value is nested more than {self.limits.max_depth} levels "
                "deep; flatten it or raise max_depth in the gate settings"
            )


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name#2``, ``name#3`` ... when an object already has that key."""
    if name not in taken:
        return name
    n = 2
    while f"{name}#{n}" in taken:
        n += 1
    return f"{name}#{n}"


@functools.lru_cache(maxsize=1)
def _anonymizer() -> Any:
    """One presidio-anonymizer engine per process (it holds no per-call state)."""
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()  # type: ignore[no-untyped-call]


def _count(total: dict[str, int], spans: dict[str, int]) -> None:
    for k, v in spans.items():
        total[k] = total.get(k, 0) + v


def _atomic_write(path: Path, data: str) -> None:
    tmp = path.with_name(f".{path.name}.redact.tmp")
    tmp.write_text(data, encoding="utf-8", newline="")
    tmp.replace(path)


def _redact_csv(
    view: ViewFile, columns: list[str], redactor: _Redactor, limits: TableLimits
) -> dict[str, Any]:
    text = read_text(view.public, limits)
    previous = csv.field_size_limit()
    csv.field_size_limit(limits.max_cell_chars)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as err:
        raise ObligationError(f"{view.relpath}: is not valid CSV: {err}") from err
    finally:
        csv.field_size_limit(previous)
    if not rows:
        raise ObligationError(f"{view.relpath}: the CSV file is empty")
    header = rows[0]
    targets = [(i, name) for i, name in enumerate(header) if name in columns]
    cells = 0
    spans: dict[str, int] = {}
    for row in rows[1:]:
        for i, name in targets:
            if i < len(row) and row[i]:
                new, found = redactor.redact(row[i], name)
                if found:
                    cells += 1
                    _count(spans, found)
                    row[i] = new
    if cells:
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerows(rows)
        _atomic_write(view.public, out.getvalue())
    return {
        "file": view.relpath,
        "columns": sorted(name for _, name in targets),
        "cells_redacted": cells,
        "spans_by_type": dict(sorted(spans.items())),
    }


def _redact_geojson(
    view: ViewFile, columns: list[str], redactor: _Redactor, limits: TableLimits
) -> dict[str, Any]:
    text = decode_text(view.public, view.public.read_bytes())
    doc = parse_json(view.public, text)
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise ObligationError(f"{view.relpath}: expected a GeoJSON FeatureCollection")
    cells = 0
    spans: dict[str, int] = {}
    present: set[str] = set()
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            continue
        for name in columns:
            if name not in props:
                continue
            present.add(name)
            new, found = redactor.redact_cell(props[name], name)
            if found:
                cells += 1
                _count(spans, found)
                props[name] = new
    if cells:
        _atomic_write(
            view.public, json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
        )
    return {
        "file": view.relpath,
        "columns": sorted(present),
        "cells_redacted": cells,
        "spans_by_type": dict(sorted(spans.items())),
    }


def _redact_text(view: ViewFile, redactor: _Redactor, limits: TableLimits) -> dict[str, Any]:
    text = read_text(view.public, limits)
    lines = text.splitlines(keepends=True)
    cells = 0
    spans: dict[str, int] = {}
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        new, found = redactor.redact(body, None)
        if found:
            cells += 1
            _count(spans, found)
            lines[i] = new + line[len(body) :]
    if cells:
        _atomic_write(view.public, "".join(lines))
    return {
        "file": view.relpath,
        "cells_redacted": cells,
        "spans_by_type": dict(sorted(spans.items())),
    }
