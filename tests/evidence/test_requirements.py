"""Necessary characters of a pattern: a sound, cheaper test before the real search."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kfm_gate.evidence.pii import prefilter_for
from kfm_gate.evidence.recognizers import build_analyzer
from kfm_gate.evidence.requirements import necessary_syntax, necessary_test
from tests.evidence.conftest import seeded_sites


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"\b\d{3}-\d{2}-\d{4}\b", "7"),
        (r"[a-z]+@[a-z]+\.com", "@"),
        (r"(?i)(?:https?://)x", ":"),
        (r"\b(\d{5}|[A-Z]\d{4})\b", "5"),
        (r"\b[0-9A-F]{2}([:-])(?:[0-9A-F]{2}\1){4}\b", "-"),
    ],
)
def test_requirement_found(pattern: str, needs: str) -> None:
    found = necessary_syntax(pattern)
    assert found is not None
    test = necessary_test([found])
    assert test is not None
    assert test(needs) and not test("Bergman Homestead")


@pytest.mark.parametrize(
    "pattern",
    [
        r"(foo|bar)",  # letters only: not selective
        r"(?=\d)\w+",  # a look-ahead is not read
        r"\d?x",  # optional
        r"(?i:\d)",  # scoped flags are not read
        r"[[:digit:]]+",  # regex-module syntax the standard parser reads differently
        r"[^a-z]",  # a negated class is too broad
    ],
)
def test_no_requirement(pattern: str) -> None:
    assert necessary_syntax(pattern) is None


def test_a_pattern_without_requirement_disables_the_combined_test() -> None:
    assert necessary_test([necessary_syntax(r"\d"), None]) is None
    assert necessary_test([]) is None


def _checks() -> list[Any]:
    return [c for c in prefilter_for(build_analyzer(ner=False)).checks if c.quick is not None]


def test_most_presidio_patterns_get_a_requirement() -> None:
    prefilter = prefilter_for(build_analyzer(ner=False))
    assert len(_checks()) >= len(prefilter.checks) - 2
    assert prefilter.any_check is not None


def _corpus() -> list[str]:
    rows, planted = seeded_sites(rows=200)
    values = [str(v) for row in rows for v in row.values()]
    values += [v for vs in planted.values() for v in vs]
    values += [
        "Landowner SSN 078-05-1120",
        "call +44 20 7946 0958",
        "K12-34-5678",
        "https://example.org/x",
        "www.kansas.gov",
        "192.168.0.1",
        "fe80::1",
        "00:1A:2B:3C:4D:5E",
        "0011.2233.4455",
        "12/03/1998",
        "03-Dec-1998",
        "1998.12.03",
        "GB82 WEST 1234 5698 7654 32",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
        "\u0663\u0664\u0665-\u0661\u0662-\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "\u212a12-34-5678",  # KELVIN SIGN for K
    ]
    return values


def test_requirements_never_reject_a_match_on_the_corpus() -> None:
    checks = _checks()
    for value in _corpus():
        for check in checks:
            if check.search(value):
                assert check.quick(value), (check.entities, value)


TEXT = st.text(
    alphabet=st.sampled_from(list("0123456789-./:@()+ ,'#aAkKzZ\u212a\u0663\u00b2_=%\n")),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_requirements_never_reject_a_match(value: str) -> None:
    prefilter = prefilter_for(build_analyzer(ner=False))
    for check in prefilter.checks:
        if check.search(value):
            assert check.quick is None or check.quick(value), (check.entities, value)
            assert prefilter.any_check is None or prefilter.any_check(value)


def test_letters_are_never_a_requirement_and_digits_are_unicode() -> None:
    """Case folding cannot bite: letters never make a requirement; ``\\d`` is every digit."""
    assert necessary_syntax(r"(?i)kansas") is None
    found = necessary_syntax(r"(?i)\bk\d")
    assert found is not None
    test = necessary_test([found])
    assert test is not None
    assert test("\u0663") and not test("K\u212a")


def test_min_width() -> None:
    from kfm_gate.evidence.requirements import min_width

    assert min_width(r"\b\d{3}-\d{2}-\d{4}\b") == 11
    assert min_width(r"(?i)k(a|bb)") == 2
    assert min_width(r"x*") == 0
    test = necessary_test([necessary_syntax(r"\d{3}-\d{2}-\d{4}")], min_width(r"\d{3}-\d{2}-\d{4}"))
    assert test is not None
    assert not test("1850") and test("078-05-1120")


def test_posix_classes_are_never_read_by_the_standard_parser() -> None:
    """``[[:digit:]]`` is a class to the regex module but a literal set to ``re``: neither a
    requirement nor a width may come from that misreading (a length test would then skip
    the match ``x5``)."""
    import regex

    from kfm_gate.evidence.requirements import min_width

    pattern = r"x[a[:digit:]]"
    assert regex.fullmatch(pattern, "x5")
    assert min_width(pattern) <= 2
    assert necessary_syntax(pattern) is None
