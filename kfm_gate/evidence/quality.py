"""Quality evidence: the dataset's Great Expectations suite, run on the public view.

Suites live in ``policies/quality/<dataset>.json`` where the council reviews them::

    {
      "name": "historic_sites",            # suite id
      "dataset": "historic_sites",
      "description": "...",
      "columns": {"period_start": "int", "lon": "float", "site_id": "string"},
      "sensitive_columns": ["notes", "recorder_contact"],
      "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "site_id"},
         "meta": {"why": "..."}}
      ]
    }

Every expectation must be one Great Expectations knows: an unknown type (a typo) is an error,
never a silent drop (GX drops them; the collector also compares counts after building). Column
types convert CSV strings; a cell that does not convert is counted as a type error and fails
the suite. Unexpected values are reported for columns not marked sensitive (at most five,
short); sensitive columns give counts only.

Great Expectations is imported only when a suite runs (the import takes seconds), with an
ephemeral context, analytics and progress bars off.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import difflib
import functools
import json
import math
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfm_gate.context import GateContext, memo_file
from kfm_gate.errors import CollectorError, ConfigError, KfmGateError
from kfm_gate.evidence.tables import TableLimits, load_table, table_kind
from kfm_gate.ids import digest
from kfm_gate.models import EvidenceSection

if TYPE_CHECKING:
    import pandas as pd

    from kfm_gate.evidence.worker import QualityWorker

COLUMN_TYPES = ("string", "int", "float", "bool")
SUITE_KEYS = frozenset(
    {"name", "dataset", "description", "columns", "sensitive_columns", "expectations", "meta"}
)
EXPECTATION_KEYS = frozenset({"type", "kwargs", "meta"})
#: table-level expectations that read only the row count and the column names
SHAPE_ONLY_EXPECTATIONS = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
    }
)
#: unexpected values shown per expectation (non-sensitive columns only)
UNEXPECTED_SHOWN = 5
UNEXPECTED_MAX_CHARS = 64


@dataclass(frozen=True)
class QualitySuite:
    """A suite file, checked: every expectation type is known to Great Expectations."""

    name: str
    dataset: str
    digest: str
    path: str
    columns: dict[str, str]
    sensitive_columns: frozenset[str]
    expectations: tuple[dict[str, Any], ...]

    def independent_of(self, columns: frozenset[str]) -> bool:
        """Whether changing the values of ``columns`` (rows and column names unchanged) cannot
        change this suite's results: no expectation or typed column reads them, and every
        expectation without a column reads only the table's shape."""
        if columns & set(self.columns):
            return False
        for exp in self.expectations:
            if "row_condition" in exp["kwargs"]:
                return False  # a condition may read any column
            read = _columns_of(exp["kwargs"])
            if not read and exp["type"] not in SHAPE_ONLY_EXPECTATIONS:
                return False
            if columns & set(read):
                return False
        return True


def _gx_env() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@functools.lru_cache(maxsize=1)
def _gx() -> Any:
    """Import Great Expectations once; its own deprecation warnings are not the caller's."""
    _gx_env()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
        import great_expectations.data_context.types.base
        import great_expectations.expectations.expectation_configuration
        import great_expectations.expectations.registry
    return gx


@functools.lru_cache(maxsize=1)
def _known_expectation_types() -> frozenset[str]:
    gx = _gx()
    return frozenset(gx.expectations.registry.list_registered_expectation_implementations())


def _fail(path: Path, msg: str) -> CollectorError:
    return CollectorError(f"quality suite {path}: {msg}")


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    listed = kwargs.get("column_list")
    if isinstance(listed, list):
        cols += [c for c in listed if isinstance(c, str)]
    return cols


class QualityCollector:
    """Section ``quality``: the Great Expectations suite of the dataset on its tables.

    Settings: ``suite_dir`` (default ``<policy_dir>/quality``), ``result_format`` (GX result
    format, default ``BASIC``), ``limits`` (file and cell size), ``process`` (run the suite in
    the worker process beside the other collectors: ``True``/``False``; ``None`` = the
    ``KFM_QUALITY_WORKER`` environment switch, on by default).
    """

    name = "quality"

    def __init__(
        self,
        *,
        suite_dir: Path | None = None,
        result_format: str = "BASIC",
        limits: TableLimits | None = None,
        process: bool | None = None,
    ) -> None:
        if result_format not in ("BOOLEAN_ONLY", "BASIC", "SUMMARY"):
            raise ConfigError(
                f"quality result_format {result_format!r} is not BOOLEAN_ONLY, BASIC or SUMMARY"
            )
        self.suite_dir = suite_dir
        self.result_format = result_format
        self.limits = limits
        self.process = process

    # -- suite --------------------------------------------------------------------------------

    def suite_path(self, ctx: GateContext) -> Path:
        base = self.suite_dir if self.suite_dir is not None else ctx.policies / "quality"
        return base / f"{ctx.request.dataset}.json"

    def load_suite(self, path: Path) -> QualitySuite:
        """Read and check a suite file; raises :class:`CollectorError` with the fix."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise _fail(path, f"cannot be read ({err.strerror})") from err
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _fail(path, f"is not valid UTF-8 JSON: {err}") from err
        if not isinstance(doc, dict):
            raise _fail(path, "must be a JSON object with name, dataset and expectations")
        unknown = sorted(set(doc) - SUITE_KEYS)
        if unknown:
            raise _fail(path, f"unknown keys {unknown}; allowed: {sorted(SUITE_KEYS)}")
        name, dataset = doc.get("name"), doc.get("dataset", doc.get("name"))
        if not isinstance(name, str) or not name:
            raise _fail(path, "'name' (the suite id) must be a non-empty string")
        columns = doc.get("columns", {})
        if not isinstance(columns, dict) or any(t not in COLUMN_TYPES for t in columns.values()):
            raise _fail(path, f"'columns' must map column names to one of {list(COLUMN_TYPES)}")
        sensitive = doc.get("sensitive_columns", [])
        if not isinstance(sensitive, list) or not all(isinstance(c, str) for c in sensitive):
            raise _fail(path, "'sensitive_columns' must be a list of column names")
        raw = doc.get("expectations")
        if not isinstance(raw, list) or not raw:
            raise _fail(path, "'expectations' must be a non-empty list")
        known = _known_expectation_types()
        expectations = []
        for index, exp in enumerate(raw):
            where = f"expectations[{index}]"
            if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
                raise _fail(path, f"{where} must be an object with a string 'type'")
            extra = sorted(set(exp) - EXPECTATION_KEYS)
            if extra:
                raise _fail(path, f"{where} has unknown keys {extra}; allowed: type, kwargs, meta")
            etype = exp["type"]
            if etype not in known:
                hint = difflib.get_close_matches(etype, sorted(known), n=1)
                fix = f"did you mean {hint[0]!r}?" if hint else "see the Great Expectations gallery"
                raise _fail(
                    path,
                    f"{where}: unknown expectation type {etype!r} (Great Expectations "
                    f"would drop it silently); {fix}",
                )
            kwargs = exp.get("kwargs", {})
            if not isinstance(kwargs, dict):
                raise _fail(path, f"{where}.kwargs must be an object")
            expectations.append({"type": etype, "kwargs": kwargs, "meta": exp.get("meta", {})})
        return QualitySuite(
            name=name,
            dataset=str(dataset),
            digest=digest(doc),
            path=path.name,
            columns=dict(columns),
            sensitive_columns=frozenset(sensitive),
            expectations=tuple(expectations),
        )

    # -- validation ---------------------------------------------------------------------------

    def _typed(
        self, frame: pd.DataFrame, suite: QualitySuite
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        import pandas as pd

        out = frame.copy()
        errors: dict[str, int] = {}
        for column, kind in sorted(suite.columns.items()):
            if column not in out.columns or kind == "string":
                continue
            series = out[column]
            present = series.notna()
            if kind == "bool":
                mapped = series.map(
                    lambda v: (
                        v
                        if isinstance(v, bool)
                        else {"true": True, "false": False}.get(str(v).strip().lower())
                    )
                )
                converted = mapped.astype(object)
                bad = present & converted.isna()
            else:
                converted = pd.to_numeric(series, errors="coerce")
                bad = present & converted.isna()
                if kind == "int":
                    frac = converted.notna() & (converted % 1 != 0)
                    bad = bad | frac
                    converted = converted.where(~frac)
            if int(bad.sum()):
                errors[column] = int(bad.sum())
            out[column] = converted
        return out, errors

    def validate_frame(self, frame: pd.DataFrame, suite: QualitySuite) -> dict[str, Any]:
        """Run ``suite`` on ``frame``; returns the evidence of this table (no file name)."""
        typed, type_errors = self._typed(frame, suite)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._validate(typed, type_errors, suite)

    def _validate(
        self, typed: pd.DataFrame, type_errors: dict[str, int], suite: QualitySuite
    ) -> dict[str, Any]:
        with _GX_LOCK:
            batch_definition = _batch_definition(suite.dataset)
            gx_suite = _gx_suite(suite)
            batch = batch_definition.get_batch(batch_parameters={"dataframe": typed})
            fmt: Any = self.result_format
            validation: Any = batch.validate(gx_suite, result_format=fmt)
        # each expectation's result as JSON (the suite-level parts are not needed)
        by_config: list[dict[str, Any]] = [r.to_json_dict() for r in validation.results]
        if len(by_config) != len(suite.expectations):
            raise CollectorError(
                f"quality suite {suite.path}: {len(by_config)} results for "
                f"{len(suite.expectations)} expectations"
            )
        expectations = [
            self._expectation_evidence(exp, res, suite)
            for exp, res in zip(suite.expectations, _in_suite_order(by_config, suite), strict=True)
        ]
        successful = sum(1 for e in expectations if e["success"])
        return {
            "success": successful == len(expectations) and not type_errors,
            "rows": len(typed),
            "statistics": {
                "evaluated": len(expectations),
                "successful": successful,
                "unsuccessful": len(expectations) - successful,
            },
            "type_errors": type_errors,
            "expectations": expectations,
        }

    def _expectation_evidence(
        self, exp: dict[str, Any], res: dict[str, Any], suite: QualitySuite
    ) -> dict[str, Any]:
        kwargs = exp["kwargs"]
        columns = _columns_of(kwargs)
        sensitive = any(c in suite.sensitive_columns for c in columns)
        body = res.get("result") or {}
        info = res.get("exception_info") or {}
        entry: dict[str, Any] = {
            "type": exp["type"],
            "column": columns[0] if len(columns) == 1 else None,
            "columns": columns,
            "success": bool(res.get("success")),
            "unexpected_count": _int_or_none(body.get("unexpected_count")),
            "unexpected_percent": _pct(body.get("unexpected_percent")),
            "element_count": _int_or_none(body.get("element_count")),
            "missing_count": _int_or_none(body.get("missing_count")),
            "exception": bool(info.get("raised_exception")),
        }
        observed = body.get("observed_value")
        if isinstance(observed, (int, float)) and not isinstance(observed, bool) and not sensitive:
            entry["observed_value"] = _number(observed)
        if entry["exception"] and not sensitive:
            message = str(info.get("exception_message") or "")
            entry["exception_message"] = message.splitlines()[0][:200] if message else ""
        if not sensitive and not entry["success"]:
            shown = body.get("partial_unexpected_list") or []
            entry["unexpected_values"] = [_short(v) for v in shown[:UNEXPECTED_SHOWN]]
        return entry

    # -- collector ----------------------------------------------------------------------------

    def collect(self, ctx: GateContext) -> EvidenceSection:
        prepared = self._prepare(ctx)
        if isinstance(prepared, EvidenceSection):
            return prepared
        suite, tables, limits = prepared
        return self._section(ctx, suite, self.evaluate_tables(suite, tables, limits))

    def start(self, ctx: GateContext) -> PendingQuality | None:
        """Begin the suite in the worker process (see :mod:`kfm_gate.evidence.worker`).

        ``None`` when the suite runs in-process (worker off) or there is nothing to run; the
        gate then calls :meth:`collect`. The evidence is the same either way.
        """
        from kfm_gate.evidence.worker import shared_worker, worker_enabled

        if not worker_enabled(self.process):
            return None
        if ctx.changing_columns is None:
            return None  # the obligations may change anything: start after them
        prepared = self._prepare(ctx)
        if isinstance(prepared, EvidenceSection):  # nothing to run, whatever changes
            return PendingQuality(self, ctx, None, None, prepared)
        suite, tables, limits = prepared
        if ctx.changing_columns and not suite.independent_of(ctx.changing_columns):
            return None  # the suite reads a column about to change: start after the change
        job = {
            "suite_path": str(self.suite_path(ctx)),
            "suite_digest": suite.digest,
            "result_format": self.result_format,
            "limits": dataclasses.asdict(limits),
            "tables": [
                {"path": str(v.public), "media_type": v.media_type, "relpath": v.relpath}
                for v in tables
            ],
        }
        worker = shared_worker()
        return PendingQuality(self, ctx, suite, worker.submit(job), None, worker)

    def evaluate_tables(
        self, suite: QualitySuite, tables: list[Any], limits: TableLimits
    ) -> list[dict[str, Any]]:
        """Per-file evidence of ``suite`` on ``tables`` (views with public, media_type, relpath).

        Any failure is a CollectorError whose message starts with ``quality``."""
        files = []
        try:
            for view in tables:
                frame = load_table(view.public, view.media_type, limits, point_columns=True)
                files.append({"file": view.relpath, **self.validate_frame(frame, suite)})
        except KfmGateError as err:
            if isinstance(err, CollectorError):
                raise
            raise CollectorError(f"quality: {err}") from err
        return files

    def _prepare(
        self, ctx: GateContext
    ) -> EvidenceSection | tuple[QualitySuite, list[Any], TableLimits]:
        """The suite and tables to check, or the section when there is nothing to run."""
        path = self.suite_path(ctx)
        if not path.is_file():
            if not _suite_optional(ctx.policies, ctx.request.dataset):
                raise CollectorError(
                    f"quality: dataset {ctx.request.dataset} has no suite "
                    f"policies/quality/{ctx.request.dataset}.json and the council requires one "
                    "(policies/data/quality.json: required, optional_datasets); add the suite"
                )
            ctx.log(f"quality: no suite for optional dataset {ctx.request.dataset} at {path}")
            return EvidenceSection(
                collector=type(self).__name__,
                status="skipped",
                data={
                    "reason": f"no quality suite policies/quality/{ctx.request.dataset}.json",
                    "suite_id": None,
                    "success": False,
                },
            )
        suite = memo_file(ctx.memo, "quality-suite", path, lambda: self.load_suite(path))
        limits = self.limits or TableLimits.from_settings(ctx.settings)
        tables = [
            f
            for f in sorted(ctx.files, key=lambda f: f.relpath)
            if f.role == "data" and table_kind(f.public, f.media_type) is not None
        ]
        if not tables:
            declared = any(o.role == "data" for o in ctx.request.outputs)
            if declared and len(ctx.files) < len(ctx.request.outputs):
                # the data file is missing: the checksum evidence says so and the policy denies
                return EvidenceSection(
                    collector=type(self).__name__,
                    status="skipped",
                    data={
                        "reason": "the data output is missing",
                        "suite_id": suite.name,
                        "success": False,
                    },
                )
            raise CollectorError(
                f"quality: dataset {ctx.request.dataset} has a suite but no table output "
                "(CSV, Parquet, GeoJSON with role 'data'); declare the table in the request"
            )
        return suite, tables, limits

    def _section(
        self, ctx: GateContext, suite: QualitySuite, files: list[dict[str, Any]]
    ) -> EvidenceSection:
        evaluated = sum(f["statistics"]["evaluated"] for f in files)
        successful = sum(f["statistics"]["successful"] for f in files)
        expectations = [{"file": f["file"], **e} for f in files for e in f["expectations"]]
        success = all(f["success"] for f in files)
        ctx.log(f"quality: suite {suite.name}: {successful}/{evaluated} expectations met")
        return EvidenceSection(
            collector=type(self).__name__,
            data={
                "suite_id": suite.name,
                "suite_digest": suite.digest,
                "suite_path": f"policies/quality/{suite.path}",
                "success": success,
                "statistics": {
                    "evaluated": evaluated,
                    "successful": successful,
                    "unsuccessful": evaluated - successful,
                },
                "type_errors": {f["file"]: f["type_errors"] for f in files if f["type_errors"]},
                "expectations": expectations,
                "files": [
                    {"file": f["file"], "rows": f["rows"], "success": f["success"]} for f in files
                ],
            },
        )


def _suite_optional(policy_dir: Path, dataset: str) -> bool:
    """Whether the council lets ``dataset`` go without a suite (``policies/data/quality.json``:
    ``required`` false, or the dataset in ``optional_datasets``); a missing or unreadable
    file means the suite is required."""
    from kfm_gate.limits import LIMITS, load_json

    path = policy_dir / "data" / "quality.json"
    try:
        doc = load_json(path.read_bytes(), str(path), max_bytes=LIMITS.document_bytes)
    except (OSError, KfmGateError):
        return False
    if not isinstance(doc, dict):
        return False
    optional = doc.get("optional_datasets")
    return doc.get("required") is False or (isinstance(optional, list) and dataset in optional)


class PendingQuality:
    """A suite running in the worker; :meth:`result` waits for its evidence section."""

    def __init__(
        self,
        collector: QualityCollector,
        ctx: GateContext,
        suite: QualitySuite | None,
        future: concurrent.futures.Future[dict[str, Any]] | None,
        ready: EvidenceSection | None,
        worker: QualityWorker | None = None,
    ) -> None:
        self._collector = collector
        self._ctx = ctx
        self._suite = suite
        self._future = future
        self._ready = ready
        self._worker = worker

    def result(self, timeout: float | None = None) -> EvidenceSection:
        """The section; CollectorError when the worker failed, TimeoutError past ``timeout``."""
        if self._ready is not None:
            return self._ready
        assert self._future is not None and self._suite is not None
        try:
            answer = self._future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            if self._worker is not None:
                self._worker.kill()  # a worker past the timeout is stuck: the next job restarts
            raise  # the gate reports the timeout
        error = answer.get("error")
        if error is not None:  # the worker's message names quality already
            raise CollectorError(str(error))
        files = answer.get("files")
        if not isinstance(files, list):
            raise CollectorError("quality: the worker process answered without per-file evidence")
        return self._collector._section(self._ctx, self._suite, files)

    def cancel(self) -> None:
        """Stop waiting (the run failed elsewhere): a queued job is dropped, a running one
        finishes in the worker and its answer is discarded (the worker stays warm)."""
        if self._future is not None:
            self._future.cancel()


def run_quality_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The worker's side of :meth:`QualityCollector.start`: per-file evidence of one job."""
    from types import SimpleNamespace

    collector = QualityCollector(result_format=str(job["result_format"]))
    suite = collector.load_suite(Path(job["suite_path"]))
    if suite.digest != job["suite_digest"]:
        raise CollectorError(
            f"quality suite {suite.path} changed while the gate was running "
            f"({job['suite_digest']} became {suite.digest}); run the gate again"
        )
    limits = TableLimits(**job["limits"])
    tables = [
        SimpleNamespace(public=Path(t["path"]), media_type=t["media_type"], relpath=t["relpath"])
        for t in job["tables"]
    ]
    return collector.evaluate_tables(suite, tables, limits)


# -- one Great Expectations context per process ----------------------------------------------
#
# Creating an ephemeral context and registering a data source costs tens of milliseconds (GX
# serializes its project config on every change), more than validating a 1,000-row table. The
# context, the data source, one dataframe asset per dataset and the built suites are kept for
# the process; each validation passes its own dataframe, so no data is shared between runs.

_GX_LOCK = threading.RLock()
_BATCH_DEFINITIONS: dict[str, Any] = {}
_GX_SUITES: dict[tuple[str, str], Any] = {}
_GX_SUITES_MAX = 64


@functools.lru_cache(maxsize=1)
def _gx_data_source() -> Any:
    gx = _gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    return context.data_sources.add_pandas("kfm_gate")


def _batch_definition(dataset: str) -> Any:
    """The whole-dataframe batch definition of ``dataset`` (call with ``_GX_LOCK`` held)."""
    found = _BATCH_DEFINITIONS.get(dataset)
    if found is None:
        asset = _gx_data_source().add_dataframe_asset(dataset)
        found = _BATCH_DEFINITIONS[dataset] = asset.add_batch_definition_whole_dataframe("whole")
    return found


def _gx_suite(suite: QualitySuite) -> Any:
    """The GX suite of ``suite``, built once per suite digest (call with ``_GX_LOCK`` held)."""
    key = (suite.name, suite.digest)
    found = _GX_SUITES.get(key)
    if found is not None:
        return found
    gx = _gx()
    ExpectationConfiguration = (  # noqa: N806
        gx.expectations.expectation_configuration.ExpectationConfiguration
    )
    gx_suite = gx.ExpectationSuite(name=suite.name)
    for exp in suite.expectations:
        config = ExpectationConfiguration(type=exp["type"], kwargs=dict(exp["kwargs"]))
        try:
            gx_suite.add_expectation(config.to_domain_obj())
        except Exception as err:  # GX raises many types for bad kwargs
            raise CollectorError(
                f"quality suite {suite.path}: expectation {exp['type']} has invalid kwargs: "
                f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            ) from err
    if len(gx_suite.expectations) != len(suite.expectations):
        raise CollectorError(
            f"quality suite {suite.path}: Great Expectations kept "
            f"{len(gx_suite.expectations)} of {len(suite.expectations)} expectations; "
            "every expectation must be understood"
        )
    if len(_GX_SUITES) >= _GX_SUITES_MAX:
        _GX_SUITES.clear()
    _GX_SUITES[key] = gx_suite
    return gx_suite


def _in_suite_order(results: list[dict[str, Any]], suite: QualitySuite) -> list[dict[str, Any]]:
    """GX results matched to the suite's expectations (by type and kwargs, in file order)."""
    remaining = list(results)
    ordered = []
    for exp in suite.expectations:
        match = next(
            (
                r
                for r in remaining
                if (r.get("expectation_config") or {}).get("type") == exp["type"]
                and all(
                    _same((r["expectation_config"].get("kwargs") or {}).get(k), v)
                    for k, v in exp["kwargs"].items()
                )
            ),
            None,
        )
        if match is None:
            raise CollectorError(
                f"quality suite {suite.path}: no result for expectation {exp['type']}"
            )
        remaining.remove(match)
        ordered.append(match)
    return ordered


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number(value: float) -> float | int | None:
    if isinstance(value, int):
        return value
    return round(value, 6) if math.isfinite(value) else None


def _pct(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return round(float(value), 6)
    return None


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= UNEXPECTED_MAX_CHARS else value[:UNEXPECTED_MAX_CHARS] + "..."
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (int, bool)) or value is None:
        return value
    return _short(str(value))
