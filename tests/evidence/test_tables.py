"""Bad input gives a clear error (and, through a collector, a CollectorError), never a pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, InputError
from kfm_gate.evidence.pii import PiiCollector
from kfm_gate.evidence.quality import QualityCollector
from kfm_gate.evidence.secrets import SecretsCollector
from kfm_gate.evidence.tables import TableLimits, iter_text_lines, load_table

BAD_INPUTS: dict[str, tuple[bytes, str]] = {
    "non_utf8": ("id,comment\n1,caf\xe9\n".encode("latin-1"), "not valid UTF-8"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    "empty": (b"", "empty"),
    "header_only": (b"id,comment\n", "no rows"),
    "ragged": (b"id,comment\n1,a\n2,b,extra\n", "ragged"),
    "bad_quote": (b'id,comment\n1,"a"b\n', "not valid CSV"),
    "duplicate_header": (b"id,id\n1,2\n", "appears twice"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_csv_is_refused(tmp_path: Path, case: str) -> None:
    content, message = BAD_INPUTS[case]
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_table(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("collector", [PiiCollector, SecretsCollector, QualityCollector])
def test_collectors_fail_closed_on_bad_csv(
    make_ctx: Callable[..., GateContext], case: str, collector: type
) -> None:
    content, _ = BAD_INPUTS[case]
    ctx = make_ctx({"t.csv": content})
    with pytest.raises(CollectorError):
        collector().collect(ctx)


def test_cell_size_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,comment\n1," + "x" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="larger than the limit of 1000"):
        load_table(path, limits=TableLimits(max_cell_chars=1000))
    assert len(load_table(path, limits=TableLimits(max_cell_chars=10_000))) == 1


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id\n" + "1\n" * 100, encoding="utf-8")
    with pytest.raises(InputError, match="max_file_bytes"):
        load_table(path, limits=TableLimits(max_file_bytes=50))


def test_limits_come_from_gate_settings(make_ctx: Callable[..., GateContext]) -> None:
    ctx = make_ctx(
        {"t.csv": "id,comment\n1," + "y" * 3000 + "\n"}, settings={"max_cell_chars": 100}
    )
    with pytest.raises(CollectorError, match="limit of 100"):
        PiiCollector(ner=False).collect(ctx)


@pytest.mark.slow
def test_hundred_megabyte_cell_is_refused(make_ctx: Callable[..., GateContext]) -> None:
    ctx = make_ctx({"t.csv": b"id,comment\n1," + b"z" * (100 * 1024 * 1024) + b"\n"})
    with pytest.raises(CollectorError, match="max_cell_chars"):
        PiiCollector(ner=False).collect(ctx)


def test_long_line_in_text_artifact(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text("ok\n" + "a" * 200 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        list(iter_text_lines(path, TableLimits(max_cell_chars=100)))


def test_geojson_properties(tmp_path: Path) -> None:
    path = tmp_path / "t.geojson"
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": None, "properties": {"id": "a", "n": 1}},
            {"type": "Feature", "geometry": None, "properties": {"id": "b"}},
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    frame = load_table(path)
    assert list(frame.columns) == ["id", "n"]
    assert frame["n"].tolist() == [1, None]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"type": "FeatureCollection", "features": []}', "no features"),
        ('{"type": "Feature"}', "FeatureCollection"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_geojson(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.geojson"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_table(path)


def test_parquet_without_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"id,comment\n1,a\n")
    with pytest.raises(InputError, match="not a Parquet file"):
        load_table(path)


def test_csv_keeps_strings_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("geoid,comment\n02001,\n20045,NA\n", encoding="utf-8")
    frame = load_table(path)
    assert frame["geoid"].tolist() == ["02001", "20045"]
    assert frame["comment"].tolist() == [None, "NA"]
