"""Secrets collector: each detector fires, placeholders and digests do not, no value leaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kfm_gate.context import GateContext
from kfm_gate.evidence.secrets import (
    SecretsCollector,
    scan_text,
    scan_text_every_rule,
    scan_text_file,
)

# assembled at run time so that this file itself holds no credential-shaped literal
PEM = "-----BEGIN " + "OPENSSH PRIVATE KEY-----"
SAMPLES = {
    "PRIVATE_KEY": PEM,
    "AWS_ACCESS_KEY_ID": "id=" + "AKIA" + "Q3EGYB7NPLXT4M2C",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key = "
    + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"
    + "q8Zt3NdWkL",
    "GOOGLE_API_KEY": "key=" + "AIza" + "SyD4k9Xq2mV7b8N1c3L5p6R0t2W4y6Z8a0b",
    "GITHUB_TOKEN": "auth " + "ghp_" + "R8bN2kQ7vX1mZ4cL9pW3tY6hJ0sD5fG8aE2u",
    "GITLAB_TOKEN": "glpat-" + "x7Kq2Vn9Lm4Pw8Rt3Yz6",
    "SLACK_TOKEN": "xoxb-" + "2048123456-4096123456-Ab3Cd5Ef7Gh9",
    "JWT": "Bearer eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJrZm0ifQ." + "c2lnbmF0dXJlX2hlcmVfeHl6",
    "PASSWORD_IN_URL": "db=postgres://kfm:" + "Tr0ub4dor&3" + "@db.internal:5432/kfm",
    "PASSWORD_ASSIGNMENT": 'password = "' + "c0rrect-h0rse" + '"',
    "HIGH_ENTROPY_STRING": "blob " + "Zk9sT2xQeUd3cVJ0YjN6U1h2TmZpQWJj" + "ZGVmZ2hpams",
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_detector(kind: str) -> None:
    assert kind in {k for k, _ in scan_text(SAMPLES[kind])}


@pytest.mark.parametrize(
    "text",
    [
        "password: ${DB_PASSWORD}",
        "password = '***'",
        "token: <redacted>",
        "digest sha256:" + "0123456789abcdef" * 4,
        "run:kfm-gate:0123456789abcdef01234567 code_ref 3f2c1e0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
        "The mill was surveyed in 1885 by the county historical society.",
        "https://kshs.example.org/sites/historic?id=42",
        "550e8400-e29b-41d4-a716-446655440000",
    ],
)
def test_not_secrets(text: str) -> None:
    assert scan_text(text) == []


def test_collector_counts_and_places(make_ctx: Callable[..., GateContext]) -> None:
    log = "start\n" + SAMPLES["PASSWORD_IN_URL"] + "\nok\n" + SAMPLES["GITHUB_TOKEN"] + "\n"
    table = "id,comment\n1,fine\n2," + SAMPLES["AWS_ACCESS_KEY_ID"] + "\n3,fine\n"
    ctx = make_ctx({"run.log": log, "t.csv": table, "img.png": b"\x89PNG\x00"})
    data = SecretsCollector().collect(ctx).data
    assert data["counts_by_type"] == {
        "AWS_ACCESS_KEY_ID": 1,
        "GITHUB_TOKEN": 1,
        "PASSWORD_IN_URL": 1,
    }
    assert data["total"] == 3
    places = sorted(
        (f["file"].rsplit("/", 1)[1], f["line"], f["column"], f["type"]) for f in data["findings"]
    )
    assert places == [
        ("run.log", 2, 19, "PASSWORD_IN_URL"),
        ("run.log", 4, 6, "GITHUB_TOKEN"),
        ("t.csv", 1, "comment", "AWS_ACCESS_KEY_ID"),
    ]
    text = json.dumps(data)
    for sample in SAMPLES.values():
        assert sample not in text
    assert "Tr0ub4dor" not in text


def test_scan_text_file_for_ci(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("# report\n" + SAMPLES["PRIVATE_KEY"] + "\n", encoding="utf-8")
    assert scan_text_file(path, label="report.md") == [
        {"type": "PRIVATE_KEY", "file": "report.md", "line": 2, "column": 1, "count": 1}
    ]


#: pieces of text, secret-shaped ones included, joined at random
SECRET_TEXT = st.lists(
    st.sampled_from(
        [*"aAzZ019_-=:./+@ '\"", "ghp_", "xoxb-", "AKIA", "eyJ", "-----BEGIN ", "password", "AIza"]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(SECRET_TEXT)
def test_prefilter_never_hides_a_finding(text: str) -> None:
    """The cheap pre-test (length, needed characters) only skips text no rule can match."""
    assert scan_text(text) == scan_text_every_rule(text)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_prefilter_keeps_every_sample(kind: str) -> None:
    for text in (SAMPLES[kind], SAMPLES[kind].split(" ", 1)[-1]):
        assert scan_text(text) == scan_text_every_rule(text)
    assert scan_text(SAMPLES[kind])


def test_declared_identifier_cells_are_counted_not_scanned(
    make_ctx: Callable[..., GateContext],
) -> None:
    """Cells fully matching the council's identifier grammar are skipped (and counted); a
    credential in the same column that does not match the grammar is still found."""
    table = (
        "site_id,notes\n"
        "hs-20045-20261101-0001,fine\n"
        "hs-20045-20261101-0002,fine\n"
        f"{SAMPLES['GITHUB_TOKEN'].split(' ')[1]},fine\n"
    )
    ctx = make_ctx({"sites.csv": table}, dataset="historic_sites")
    data = SecretsCollector().collect(ctx).data
    assert data["identifier_cells_skipped"] == {"feature_id": 0, "site_id": 2}
    assert data["counts_by_type"] == {"GITHUB_TOKEN": 1}
    assert [(f["line"], f["column"]) for f in data["findings"]] == [(2, "site_id")]


def test_an_identifier_grammar_admitting_credentials_is_refused() -> None:
    from kfm_gate.errors import InputError
    from kfm_gate.evidence.pii import compile_identifier_pattern

    with pytest.raises(InputError, match="stricter"):
        compile_identifier_pattern("site_id", r"^[A-Za-z0-9_]{20,}$")
    compile_identifier_pattern("site_id", r"^hs-20[0-9]{3}-[0-9]{8}-[0-9]{4}$")


def test_credentials_in_column_names_and_nested_cells_are_found_without_values(
    make_ctx: Callable[..., GateContext],
) -> None:
    token = "ghp_" + "R8bN2kQ7vX1mZ4cL9pW3tY6hJ0sD5fG8aE2u"
    aws = "AKIA" + "Q3EGYB7NPLXT4M2C"
    features = [
        {"type": "Feature", "geometry": None, "properties": {"site": "A", token: "x"}},
        {
            "type": "Feature",
            "geometry": None,
            "properties": {"site": "B", "extra": {"auth": ["none", f"id={aws}"], aws: 1}},
        },
    ]
    doc = {"type": "FeatureCollection", "features": features}
    ctx = make_ctx({"t.geojson": json.dumps(doc)})
    data = SecretsCollector().collect(ctx).data
    places = {(f["type"], f["column"], f["line"], f.get("path")) for f in data["findings"]}
    assert ("GITHUB_TOKEN", "<key#1>", None, None) in places
    assert ("AWS_ACCESS_KEY_ID", "extra", 1, "extra.auth[1]") in places
    assert data["counts_by_type"]["AWS_ACCESS_KEY_ID"] == 2  # the leaf and the key
    text = json.dumps(data)
    assert token not in text and aws not in text
