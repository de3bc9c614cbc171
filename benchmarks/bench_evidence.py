"""Benchmarks of the evidence collectors, each against a baseline run side by side.

- PII: the exact fast scan (``scan_frame``) against the plain cell-by-cell Presidio scan with the
  same analyzer (``scan_frame_reference``), on a deterministic 100,000-row x 6-text-column table
  with repeated and unique values; the plain scan runs on a 10,000-row slice and the fast scan is
  also run on that slice to prove identical findings. Speed is compared in cells per second.
- Quality: the Great Expectations collector on 100,000 rows with 10 expectations, after import.

Run: ``.venv/bin/python benchmarks/bench_evidence.py`` (``--quick`` for a smaller table).
Ends with one ``RESULT <metric> <value> <unit>`` line per target.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kfm_gate.orchestration.survey import SITE_TYPES  # noqa: E402

SITE_WORDS = ["Fort", "Mill", "School", "Church", "Depot", "Creek", "Ridge", "Prairie", "Spring"]
PLACES = [
    "Larned",
    "Hays",
    "Scott",
    "Dodge",
    "Council Grove",
    "Lecompton",
    "Wallace",
    "Riley",
    "Harker",
    "Zarah",
    "Aubry",
    "Mann",
    "Atkinson",
    "Lyon",
    "Leavenworth",
    "Hays City",
]
#: the survey's own vocabulary (one list, kfm_gate/orchestration/survey.py)
TYPES = list(SITE_TYPES)
CONDITIONS = ["good", "fair", "poor", "destroyed"]
NOTE_TEMPLATES = [
    "Foundation visible; {n} courses of limestone remain.",
    "Surveyed in {y}; structure partly collapsed.",
    "Cellar depression, {n} m across, near the creek.",
    "Marker erected by the county historical society in {y}.",
    "No surface features; location from an {y} plat map.",
    "Stone walls standing to {n} m; roof gone.",
    "Site visited by the survey team; see report {y}-{n}.",
]
FIRST = [
    "Ada",
    "Ben",
    "Cora",
    "Dale",
    "Edna",
    "Finn",
    "Gail",
    "Hugo",
    "Iris",
    "Jude",
    "Kurt",
    "Lena",
    "Milo",
    "Nora",
    "Otto",
    "Pia",
    "Quin",
    "Rosa",
    "Saul",
    "Tess",
]
LAST = [
    "Albers",
    "Baker",
    "Clark",
    "Dietz",
    "Eller",
    "Fisher",
    "Graber",
    "Hoch",
    "Imhoff",
    "Jansen",
    "Koch",
    "Lutz",
    "Meyer",
    "Nagel",
    "Ott",
    "Pohl",
    "Rausch",
    "Stahl",
    "Thiel",
]


def make_text_table(rows: int, seed: int = 20261125) -> Any:
    """A deterministic table: 6 text columns with a realistic mix of repeated and unique values.

    ``name`` (~2,000 site names), ``county`` (105 names), ``site_type`` (10), ``condition`` (4),
    ``notes`` (templated, ~30 % unique, 2 % with a contact e-mail or phone),
    ``recorder_contact`` (~600 recorders: e-mail, phone or name).
    """
    import pandas as pd

    rng = random.Random(seed)
    names = [f"{rng.choice(PLACES)} {rng.choice(SITE_WORDS)} {i}" for i in range(2000)]
    counties = [f"County {i:03d}" for i in range(105)]
    recorders = []
    for i in range(600):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        kind = i % 3
        if kind == 0:
            recorders.append(f"{first.lower()}.{last.lower()}{i}@kshs.example.org")
        elif kind == 1:
            recorders.append(f"({rng.randint(316, 913)}) 555-{rng.randint(100, 9999):04d}")
        else:
            recorders.append(f"{first} {last}")
    common_notes = [
        t.format(n=rng.randint(1, 9), y=rng.randint(1860, 1990))
        for t in NOTE_TEMPLATES
        for _ in range(30)
    ]
    data: dict[str, list[str]] = {
        k: [] for k in ("name", "county", "site_type", "condition", "notes", "recorder_contact")
    }
    for i in range(rows):
        data["name"].append(rng.choice(names))
        data["county"].append(rng.choice(counties))
        data["site_type"].append(rng.choice(TYPES))
        data["condition"].append(rng.choice(CONDITIONS))
        r = rng.random()
        if r < 0.02:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            data["notes"].append(
                f"Owner {first} {last} asks to be called at 785.555.{rng.randint(0, 9999):04d}"
                if i % 2
                else f"Contact {first.lower()}{i}@mail.example.com for access"
            )
        elif r < 0.30:
            data["notes"].append(
                f"Site {i}: "
                + rng.choice(NOTE_TEMPLATES).format(n=rng.randint(1, 99), y=rng.randint(1860, 1990))
            )
        else:
            data["notes"].append(rng.choice(common_notes))
        data["recorder_contact"].append(rng.choice(recorders))
    return pd.DataFrame(data, dtype=object)


def bench_pii(rows: int, plain_rows: int) -> tuple[float, bool]:
    from kfm_gate.evidence.pii import scan_frame, scan_frame_reference
    from kfm_gate.evidence.recognizers import build_analyzer

    analyzer = build_analyzer(ner=False)
    table = make_text_table(rows)
    cells = table.shape[0] * table.shape[1]
    head = table.iloc[:plain_rows].reset_index(drop=True)

    t0 = time.perf_counter()
    plain = scan_frame_reference(head, analyzer=analyzer)
    plain_s = time.perf_counter() - t0
    fast_head, _ = scan_frame(head, analyzer=analyzer)
    identical = fast_head == plain

    t0 = time.perf_counter()
    _, stats = scan_frame(table, analyzer=analyzer)
    fast_s = time.perf_counter() - t0

    plain_rate = head.shape[0] * head.shape[1] / plain_s
    fast_rate = cells / fast_s
    print(f"pii plain : {head.shape[0]:>7} rows, {plain_s:8.2f} s, {plain_rate:10.0f} cells/s")
    print(
        f"pii fast  : {rows:>7} rows, {fast_s:8.2f} s, {fast_rate:10.0f} cells/s "
        f"({stats.unique_values} unique values, {stats.analyzed_values} analyzed)"
    )
    print(f"pii findings identical on the {plain_rows}-row slice: {identical}")
    return fast_rate / plain_rate, identical


def bench_quality(rows: int) -> float:
    import pandas as pd

    from kfm_gate.evidence.quality import QualityCollector

    rng = random.Random(7)
    table = pd.DataFrame(
        {
            "site_id": [f"HS-{i:06d}" for i in range(rows)],
            "name": [f"{rng.choice(PLACES)} {rng.choice(SITE_WORDS)}" for _ in range(rows)],
            "county_geoid": [f"20{rng.randrange(1, 210, 2):03d}" for _ in range(rows)],
            "site_type": [rng.choice(TYPES) for _ in range(rows)],
            "period_start": [rng.randint(1500, 1900) for _ in range(rows)],
            "condition": [rng.choice(CONDITIONS) for _ in range(rows)],
            "lon": [rng.uniform(-102.05, -94.59) for _ in range(rows)],
            "lat": [rng.uniform(36.99, 40.0) for _ in range(rows)],
        }
    )
    table["period_end"] = table["period_start"] + 10
    suite = {
        "name": "bench",
        "dataset": "bench",
        "sensitive_columns": [],
        "columns": {"period_start": "int", "period_end": "int", "lon": "float", "lat": "float"},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "site_id"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "site_id"}},
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "county_geoid", "regex": "^20[0-9]{3}$"},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "site_type", "value_set": TYPES},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "condition", "value_set": CONDITIONS},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "period_start", "min_value": 1500, "max_value": 1950},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "lon", "min_value": -102.06, "max_value": -94.58},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "lat", "min_value": 36.99, "max_value": 40.01},
            },
            {
                "type": "expect_column_pair_values_a_to_be_greater_than_b",
                "kwargs": {"column_A": "period_end", "column_B": "period_start", "or_equal": True},
            },
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 1, "max_value": 10000000},
            },
        ],
    }
    collector = QualityCollector()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.json"
        path.write_text(json.dumps(suite), encoding="utf-8")
        loaded = collector.load_suite(path)
        collector.validate_frame(table.head(100), loaded)  # import GX and warm up
        t0 = time.perf_counter()
        result = collector.validate_frame(table, loaded)
        elapsed = time.perf_counter() - t0
    print(
        f"quality   : {rows} rows, {len(suite['expectations'])} expectations, {elapsed:.3f} s, "
        f"success={result['success']}"
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2,000-row plain slice")
    args = parser.parse_args()
    rows, plain_rows = (20_000, 2_000) if args.quick else (100_000, 10_000)
    speedup, identical = bench_pii(rows, plain_rows)
    quality_s = bench_quality(rows)
    print(f"RESULT pii_speedup {speedup:.1f} x")
    print(f"RESULT pii_identical {int(identical)} bool")
    print(f"RESULT quality_100k_s {quality_s:.3f} s")


if __name__ == "__main__":
    main()
