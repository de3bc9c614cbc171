"""Tabular outputs and text artifacts, loaded for the evidence collectors.

CSV, Parquet and GeoJSON (feature properties) become a :class:`pandas.DataFrame`; run logs and
reports become lines of text. Bad input is refused with an :class:`~kfm_gate.errors.InputError`
that names the file, the place and the fix, never a crash and never an empty success:

- a file larger than :attr:`TableLimits.max_file_bytes`, a cell larger than
  :attr:`TableLimits.max_cell_chars`;
- bytes that are not UTF-8, a binary file (NUL bytes) under a text name;
- an empty file, a table with a header and no rows, a GeoJSON without features;
- ragged CSV rows (a field count that differs from the header), duplicate column names.

Error messages carry row and column numbers, never cell content.

CSV cells are kept as strings (``county_geoid`` ``"02001"`` stays a string); an empty field is
missing (``None``). Collectors that need numbers convert the columns they know (the quality
suite declares its column types).

A GeoJSON property (or a Parquet struct or list) may hold an object or an array: the frame
keeps it as one cell, and :func:`cell_parts` lists every key and every leaf below it with its
path (``notes.contact[2]``) for the scans that must look inside. Nesting deeper than
:attr:`TableLimits.max_depth` is refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kfm_gate.context import memo_file
from kfm_gate.errors import ConfigError, InputError

if TYPE_CHECKING:
    import pandas as pd

TableKind = Literal["csv", "parquet", "geojson"]

CSV_TYPES = frozenset({"text/csv", "application/csv"})
PARQUET_TYPES = frozenset({"application/vnd.apache.parquet", "application/x-parquet"})
GEOJSON_TYPES = frozenset({"application/geo+json", "application/vnd.geo+json"})
#: artifacts scanned line by line (run logs, reports, metadata)
TEXT_SUFFIXES = frozenset(
    {
        ".txt",
        ".log",
        ".md",
        ".json",
        ".jsonl",
        ".yml",
        ".yaml",
        ".html",
        ".xml",
        ".ttl",
        ".jsonld",
        ".sarif",
    }
)
TEXT_TYPES_PREFIX = ("text/",)
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/x-ndjson",
        "application/yaml",
        "application/xml",
        "application/sarif+json",
        "text/turtle",
    }
)

_BINARY_PROBE = 1 << 16


@dataclass(frozen=True)
class TableLimits:
    """Size limits for inputs; the gate may override them from its settings."""

    max_file_bytes: int = 1 << 30  # 1 GiB
    max_cell_chars: int = 1 << 20  # 1 Mi characters in one cell or one line
    max_depth: int = 32  # objects and arrays nested in one cell (GeoJSON properties)

    @classmethod
    def from_settings(cls, settings: Any) -> TableLimits:
        """Read ``max_file_bytes`` / ``max_cell_chars`` / ``max_depth`` from a settings
        mapping, if present."""
        defaults = cls()
        try:
            return cls(
                max_file_bytes=int(settings.get("max_file_bytes", defaults.max_file_bytes)),
                max_cell_chars=int(settings.get("max_cell_chars", defaults.max_cell_chars)),
                max_depth=int(settings.get("max_depth", defaults.max_depth)),
            )
        except (TypeError, ValueError) as err:
            raise ConfigError(
                f"size limits must be integers (max_file_bytes, max_cell_chars, max_depth): {err}"
            ) from err


def table_kind(path: Path, media_type: str = "") -> TableKind | None:
    """``csv``, ``parquet`` or ``geojson`` from the media type or the suffix; ``None`` otherwise."""
    mt = media_type.split(";")[0].strip().lower()
    suffix = path.suffix.lower()
    if mt in CSV_TYPES or suffix == ".csv":
        return "csv"
    if mt in PARQUET_TYPES or suffix == ".parquet":
        return "parquet"
    if mt in GEOJSON_TYPES or suffix == ".geojson":
        return "geojson"
    return None


def is_text_artifact(path: Path, media_type: str = "") -> bool:
    """True for run logs, reports and metadata documents scanned as lines of text."""
    if table_kind(path, media_type) is not None:
        return False
    mt = media_type.split(";")[0].strip().lower()
    return (
        mt.startswith(TEXT_TYPES_PREFIX) or mt in TEXT_TYPES or path.suffix.lower() in TEXT_SUFFIXES
    )


def _read_bytes(path: Path, limits: TableLimits) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror}); check the output path") from err
    if size > limits.max_file_bytes:
        raise InputError(
            f"{path}: {size} bytes is larger than the limit of {limits.max_file_bytes} bytes; "
            "split the output or raise max_file_bytes in the gate settings"
        )
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror})") from err


def decode_text(path: Path, data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); binary content and other encodings are refused."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(
            f"{path}: contains NUL bytes at offset {nul}; this is a binary file, "
            "not text: check that the output was written as UTF-8 text with the right suffix"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path}: is not valid UTF-8 (byte offset {err.start}: {err.reason}); "
            "re-encode the file as UTF-8"
        ) from err


def read_text(path: Path, limits: TableLimits | None = None) -> str:
    """The whole file as text, with the size and encoding checks."""
    return decode_text(path, _read_bytes(path, limits or TableLimits()))


def iter_text_lines(path: Path, limits: TableLimits | None = None) -> Iterator[tuple[int, str]]:
    """``(line number from 1, line)`` of a text artifact; over-long lines are refused."""
    lim = limits or TableLimits()
    text = read_text(path, lim)
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > lim.max_cell_chars:
            raise InputError(
                f"{path}: line {number} has {len(line)} characters, more than the limit of "
                f"{lim.max_cell_chars}; raise max_cell_chars in the gate settings if it is legitimate"
            )
        yield number, line


def load_table(
    path: Path,
    media_type: str = "",
    limits: TableLimits | None = None,
    *,
    point_columns: bool = False,
) -> pd.DataFrame:
    """Load a CSV, Parquet or GeoJSON file (properties only) into a DataFrame.

    Raises :class:`InputError` for every kind of bad input listed in the module docstring.
    """
    lim = limits or TableLimits()
    kind = table_kind(path, media_type)
    if kind == "csv":
        return _load_csv(path, lim)
    if kind == "parquet":
        return _load_parquet(path, lim)
    if kind == "geojson":
        return _load_geojson(path, lim, point_columns=point_columns)
    raise InputError(
        f"{path}: media type {media_type!r} is not a table; expected CSV, Parquet or GeoJSON"
    )


def load_view_table(
    ctx_memo: dict[str, Any] | None,
    path: Path,
    media_type: str = "",
    limits: TableLimits | None = None,
) -> pd.DataFrame:
    """:func:`load_table` of a public-view file, parsed once per run for every collector.

    ``ctx_memo`` is the run's memo (:attr:`~kfm_gate.context.GateContext.memo`); collectors
    run after the obligation engines have rewritten the view, so within one run a file's
    size and modification time identify its content. The frame is shared: callers must not
    modify it (copy first). Without a memo this is :func:`load_table`.
    """
    lim = limits or TableLimits()
    kind = f"table|{media_type}|{lim.max_file_bytes}|{lim.max_cell_chars}"
    return memo_file(ctx_memo, kind, path, lambda: load_table(path, media_type, lim))


def _cell_too_large(path: Path, row: int, column: str, size: int, limit: int) -> InputError:
    return InputError(
        f"{path}: the cell at row {row}, column {column!r} has {size} characters, more than the "
        f"limit of {limit}; raise max_cell_chars in the gate settings if it is legitimate"
    )


def _load_csv(path: Path, lim: TableLimits) -> pd.DataFrame:
    import pandas as pd

    text = decode_text(path, _read_bytes(path, lim))
    if not text.strip():
        raise InputError(f"{path}: the CSV file is empty; expected a header and at least one row")
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(lim.max_cell_chars)
    rows: list[list[str]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader)
        width = len(header)
        for row in reader:
            if len(row) != width:
                if not row:  # a blank line
                    continue
                raise InputError(
                    f"{path}: line {reader.line_num} has {len(row)} fields but the header has "
                    f"{width}; the rows are ragged: quote fields that contain commas or fix the row"
                )
            rows.append(row)
    except csv.Error as err:
        line = reader.line_num
        if "field larger than field limit" in str(err):
            raise InputError(
                f"{path}: a cell near line {line} is larger than the limit of "
                f"{lim.max_cell_chars} characters; raise max_cell_chars in the gate settings "
                "if it is legitimate"
            ) from err
        raise InputError(f"{path}: is not valid CSV near line {line}: {err}") from err
    finally:
        csv.field_size_limit(previous_limit)
    _check_header(path, header)
    if not rows:
        raise InputError(f"{path}: the table has a header but no rows; an empty table cannot pass")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return frame.replace({"": None})


def _check_header(path: Path, header: list[str]) -> None:
    names = [str(h) for h in header]
    if any(not n.strip() for n in names):
        raise InputError(f"{path}: the header has an empty column name; name every column")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{path}: column {name!r} appears twice in the header; rename one")
        seen.add(name)


def _load_parquet(path: Path, lim: TableLimits) -> pd.DataFrame:
    import pandas as pd

    data = _read_bytes(path, lim)
    if len(data) < 8 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise InputError(f"{path}: is not a Parquet file (no PAR1 magic); check the media type")
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except ImportError as err:
        raise ConfigError(
            f"{path}: reading Parquet needs pyarrow or fastparquet; install pyarrow"
        ) from err
    except Exception as err:  # the engines raise many types for corrupt files
        raise InputError(f"{path}: the Parquet file cannot be read: {type(err).__name__}") from err
    _check_header(path, [str(c) for c in frame.columns])
    if frame.empty:
        raise InputError(f"{path}: the table has no rows; an empty table cannot pass")
    _check_cell_sizes(path, frame, lim)
    return frame


def _load_geojson(path: Path, lim: TableLimits, *, point_columns: bool = False) -> pd.DataFrame:
    import pandas as pd

    text = decode_text(path, _read_bytes(path, lim))
    if not text.strip():
        raise InputError(f"{path}: the GeoJSON file is empty; expected a FeatureCollection")
    doc = parse_json(path, text)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError(f"{path}: expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise InputError(
            f"{path}: the FeatureCollection has no features; an empty table cannot pass"
        )
    records: list[dict[str, Any]] = []
    for index, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise InputError(f"{path}: feature {index} has properties that are not an object")
        if point_columns:
            # the quality suite checks where points are: expose them as lon / lat columns
            geom = feature.get("geometry") if isinstance(feature, dict) else None
            coords = geom.get("coordinates") if isinstance(geom, dict) else None
            is_point = isinstance(geom, dict) and geom.get("type") == "Point"
            lon, lat = (
                (coords[0], coords[1]) if is_point and isinstance(coords, list) else (None, None)
            )
            # the geometry wins over lon / lat properties (which may lag behind a masked point)
            if is_point:
                props = {**props, "lon": lon, "lat": lat}
            else:
                props = {**props, "lon": props.get("lon"), "lat": props.get("lat")}
        records.append(props)
    frame = pd.DataFrame.from_records(records)
    if frame.shape[1] == 0:
        raise InputError(f"{path}: no feature has properties; there is no table to check")
    frame = frame.astype(object).where(frame.notna(), None)
    _check_cell_sizes(path, frame, lim)
    return frame


def _check_cell_sizes(path: Path, frame: pd.DataFrame, lim: TableLimits) -> None:
    limit = lim.max_cell_chars
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object and str(series.dtype) not in ("string", "str"):
            continue
        values = series.to_numpy(dtype=object)
        longest = max((len(v) for v in values if isinstance(v, str)), default=0)
        if longest > limit:
            row = next(i for i, v in enumerate(values) if isinstance(v, str) and len(v) == longest)
            raise _cell_too_large(path, row, str(column), longest, limit)


def parse_json(path: Path, text: str) -> Any:
    """``json.loads`` with the errors of bad input as :class:`InputError` (nesting too deep
    for the parser included)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path}: is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err
    except RecursionError as err:
        raise InputError(
            f"{path}: the JSON is nested too deeply to be read; flatten the properties"
        ) from err


# ---------------------------------------------------------------------------------------------
# what a cell holds: its text, or every key and leaf of an object or array

#: one step of a path below a column: an array index, or (key, position of the key in its object)
Segment = int | tuple[str, int]


@dataclass(frozen=True)
class CellPart:
    """A text in a cell: the cell itself, or a key or leaf below it (``path`` from the cell)."""

    path: tuple[Segment, ...]
    text: str
    is_key: bool = False


def leaf_text(value: Any) -> str | None:
    """The text of a scalar cell or leaf, as a scan reads it; ``None`` when it holds none.

    Strings (not blank), integers and integral floats (a phone number stored as a number,
    ``7855550142.0`` read as ``"7855550142"``) have a text; booleans, missing values (``None``,
    NaN), fractional numbers (a coordinate) and dates do not.
    """
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return None
    kind = type(value).__module__
    if kind == "numpy":  # numpy scalars (Parquet, pandas): as the Python value
        item = getattr(value, "item", None)
        if callable(item):
            return leaf_text(item())
    return None


def _children(value: Any) -> list[tuple[Segment, Any]] | None:
    """``(segment, child)`` of an object or array, ``None`` for a scalar."""
    if isinstance(value, Mapping):
        return [((str(k), i), v) for i, (k, v) in enumerate(value.items())]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if type(value).__module__ == "numpy" and int(getattr(value, "ndim", 0)) > 0:
        return list(enumerate(value.tolist()))
    return None


def is_nested(value: Any) -> bool:
    """True for an object or an array (a cell whose texts are below it)."""
    return _children(value) is not None


def cell_parts(value: Any, limits: TableLimits | None = None, where: str = "") -> list[CellPart]:
    """Every text of a cell, in document order: the cell's own text, or for an object or
    array each key (``is_key``) and each leaf below it, with its path.

    Raises :class:`InputError` (naming ``where``, never the value) when the nesting is deeper
    than ``limits.max_depth`` or a text is longer than ``limits.max_cell_chars``.
    """
    lim = limits or TableLimits()
    out: list[CellPart] = []
    # (path, value, whether the last segment is a key to emit before the value)
    stack: list[tuple[tuple[Segment, ...], Any, bool]] = [((), value, False)]
    while stack:
        path, current, keyed = stack.pop()
        if keyed:
            name = path[-1][0]  # type: ignore[index]
            _check_part(name, path, lim, where)
            if name.strip():
                out.append(CellPart(path, name, is_key=True))
        children = _children(current)
        if children is None:
            text = leaf_text(current)
            if text is not None:
                _check_part(text, path, lim, where)
                out.append(CellPart(path, text))
            continue
        if len(path) >= lim.max_depth:
            raise InputError(
                f"{where}a value is nested more than {lim.max_depth} levels deep; flatten it "
                "or raise max_depth in the gate settings"
            )
        stack.extend(
            ((*path, segment), child, isinstance(segment, tuple))
            for segment, child in reversed(children)
        )
    return out


def _check_part(text: str, path: tuple[Segment, ...], lim: TableLimits, where: str) -> None:
    if len(text) > lim.max_cell_chars:
        raise InputError(
            f"{where}a text at depth {len(path)} has {len(text)} characters, more than the "
            f"limit of {lim.max_cell_chars}; raise max_cell_chars in the gate settings if it is "
            "legitimate"
        )


def render_path(
    column: str, path: tuple[Segment, ...], hidden: frozenset[str] = frozenset()
) -> str:
    """``notes.contact[2]``: a column and a path below it, as evidence shows it.

    A key in ``hidden`` (one that holds personal data itself) is shown by its position in
    its object, ``<key#3>``, never by its text.
    """
    parts = [column]
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        else:
            name, position = segment
            parts.append("." + (f"<key#{position}>" if name in hidden else name))
    return "".join(parts)


def factorize_cells(series: pd.Series) -> tuple[Any, list[Any]]:
    """``(codes, uniques)`` of a column (``pandas.factorize``, missing values -1); cells that
    hold objects or arrays (unhashable) are compared by their JSON text."""
    import numpy as np
    import pandas as pd

    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return codes, list(uniques)
    except TypeError:
        pass
    seen: dict[Any, int] = {}
    out_codes = np.full(len(series), -1, dtype=np.int64)
    out_uniques: list[Any] = []
    for row, value in enumerate(series.tolist()):
        if is_nested(value):
            key: Any = ("json", json.dumps(value, default=_json_default, ensure_ascii=False))
        else:
            if value is None or (isinstance(value, float) and value != value):
                continue
            key = ("scalar", type(value).__name__, value)
        code = seen.get(key)
        if code is None:
            code = seen[key] = len(out_uniques)
            out_uniques.append(value)
        out_codes[row] = code
    return out_codes, out_uniques


def _json_default(value: Any) -> Any:
    item = getattr(value, "tolist", None)
    return item() if callable(item) else repr(value)
