"""Quality collector: the council's suites, unknown types refused, sensitive columns counted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError
from kfm_gate.evidence.quality import QualityCollector
from tests.evidence.conftest import REPO, seeded_sites, to_csv


def test_historic_sites_suite_passes_on_good_data(make_ctx: Callable[..., GateContext]) -> None:
    rows, _ = seeded_sites(rows=120)
    section = QualityCollector().collect(
        make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites")
    )
    data = section.data
    assert section.status == "ok"
    assert data["suite_id"] == "historic_sites"
    assert data["suite_digest"].startswith("sha256:")
    assert data["success"] is True, [e for e in data["expectations"] if not e["success"]]
    assert data["statistics"]["evaluated"] == 15
    assert data["statistics"]["unsuccessful"] == 0


def test_failures_are_counted(make_ctx: Callable[..., GateContext]) -> None:
    rows, _ = seeded_sites(rows=50)
    rows[3]["site_type"] = "fortt"
    rows[4]["site_type"] = "castle"
    rows[5]["site_id"] = rows[6]["site_id"]
    rows[7]["period_start"] = "about 1850"
    rows[8]["lat"] = 45.0
    section = QualityCollector().collect(
        make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites")
    )
    data = section.data
    assert data["success"] is False
    by_key = {(e["type"], e["column"]): e for e in data["expectations"]}
    in_set = by_key[("expect_column_values_to_be_in_set", "site_type")]
    assert (in_set["success"], in_set["unexpected_count"], in_set["unexpected_percent"]) == (
        False,
        2,
        4.0,
    )
    assert in_set["unexpected_values"] == ["fortt", "castle"]
    assert by_key[("expect_column_values_to_be_unique", "site_id")]["unexpected_count"] == 2
    assert by_key[("expect_column_values_to_be_between", "lat")]["unexpected_count"] == 1
    assert data["type_errors"] == {section.data["files"][0]["file"]: {"period_start": 1}}


def test_sensitive_columns_give_counts_only(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    suite = {
        "name": "example_table",
        "dataset": "example_table",
        "sensitive_columns": ["comment"],
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "comment", "value_set": ["ok"]},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "kind", "value_set": ["a"]},
            },
        ],
    }
    (policy_copy / "quality" / "example_table.json").write_text(json.dumps(suite), encoding="utf-8")
    ctx = make_ctx(
        {"t.csv": "id,kind,comment\n1,b,call 785-555-0142\n2,a,ok\n"}, policy_dir=policy_copy
    )
    data = QualityCollector().collect(ctx).data
    comment, kind = data["expectations"]
    assert comment["unexpected_count"] == 1 and "unexpected_values" not in comment
    assert kind["unexpected_values"] == ["b"]
    assert "785-555-0142" not in json.dumps(data)


def test_misspelled_expectation_type_fails(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    path = policy_copy / "quality" / "example_table.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["expectations"][1]["type"] = "expect_column_values_to_be_uniqe"
    path.write_text(json.dumps(doc), encoding="utf-8")
    ctx = make_ctx({"t.csv": "id,count,kind,comment\n1,2,a,x\n"}, policy_dir=policy_copy)
    with pytest.raises(CollectorError, match="expect_column_values_to_be_unique"):
        QualityCollector().collect(ctx)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"expectations": []}, "non-empty list"),
        ({"columns": {"count": "integer"}}, "'columns'"),
        ({"colums": {}}, "unknown keys"),
    ],
)
def test_malformed_suite_fails(
    make_ctx: Callable[..., GateContext], policy_copy: Path, patch: dict[str, Any], message: str
) -> None:
    path = policy_copy / "quality" / "example_table.json"
    doc = {**json.loads(path.read_text(encoding="utf-8")), **patch}
    path.write_text(json.dumps(doc), encoding="utf-8")
    ctx = make_ctx({"t.csv": "id,count,kind\n1,2,a\n"}, policy_dir=policy_copy)
    with pytest.raises(CollectorError, match=message):
        QualityCollector().collect(ctx)


def test_bad_kwargs_fail(make_ctx: Callable[..., GateContext], policy_copy: Path) -> None:
    path = policy_copy / "quality" / "example_table.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["expectations"][2]["kwargs"] = {"column": "count", "min_value": "zero"}
    path.write_text(json.dumps(doc), encoding="utf-8")
    ctx = make_ctx({"t.csv": "id,count,kind\n1,2,a\n"}, policy_dir=policy_copy)
    with pytest.raises(CollectorError):
        QualityCollector().collect(ctx)


def test_missing_suite_is_an_error(make_ctx: Callable[..., GateContext]) -> None:
    """A dataset without its suite skipped the check (and the policy denied): a suite the
    council requires and cannot find is a gate that cannot decide (outcome error)."""
    ctx = make_ctx({"t.csv": "a\n1\n"}, dataset="no_such_dataset")
    with pytest.raises(
        CollectorError, match=r"has no suite policies/quality/no_such_dataset\.json"
    ):
        QualityCollector().collect(ctx)


def test_missing_suite_of_an_optional_dataset_is_skipped(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    path = policy_copy / "data" / "quality.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**doc, "optional_datasets": ["no_such_dataset"]}))
    ctx = make_ctx({"t.csv": "a\n1\n"}, dataset="no_such_dataset", policy_dir=policy_copy)
    section = QualityCollector().collect(ctx)
    assert section.status == "skipped"
    assert "no quality suite" in section.data["reason"]


def test_evidence_is_deterministic(make_ctx: Callable[..., GateContext]) -> None:
    rows, _ = seeded_sites(rows=60)
    rows[2]["condition"] = "ruined"
    ctx = make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites")
    a = QualityCollector().collect(ctx).to_json_dict()
    b = QualityCollector().collect(ctx).to_json_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_shipped_suites_load() -> None:
    for path in sorted((REPO / "policies" / "quality").glob("*.json")):
        suite = QualityCollector().load_suite(path)
        assert suite.name == path.stem


def test_process_wide_gx_objects_keep_runs_apart(
    make_ctx: Callable[..., GateContext], policy_copy: Path
) -> None:
    """The GX context and built suites are reused; data and suite edits never carry over."""
    rows, _ = seeded_sites(rows=40)
    bad = [dict(r) for r in rows]
    bad[1]["site_type"] = "castle"
    collector = QualityCollector()
    failed = collector.collect(make_ctx({"sites.csv": to_csv(bad)}, dataset="historic_sites"))
    passed = collector.collect(make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites"))
    assert failed.data["success"] is False
    assert passed.data["success"] is True
    # an edited suite (new digest) is built again, not served from the process cache
    path = policy_copy / "quality" / "historic_sites.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "site_type", "value_set": ["fort"]},
        }
    )
    path.write_text(json.dumps(doc), encoding="utf-8")
    edited = collector.collect(
        make_ctx({"sites.csv": to_csv(rows)}, dataset="historic_sites", policy_dir=policy_copy)
    )
    assert edited.data["statistics"]["evaluated"] == passed.data["statistics"]["evaluated"] + 1
    assert edited.data["success"] is False
