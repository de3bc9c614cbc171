"""Benchmark of the quality collector: Great Expectations on 100,000 rows with 10 expectations,
after import. (The PII scan has its own benchmark, ``benchmarks/bench_pii.py``: corpus quality
and speed on the same rows both ways.)

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
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    args = parser.parse_args()
    rows = 20_000 if args.quick else 100_000
    quality_s = bench_quality(rows)
    print(f"RESULT quality_100k_s {quality_s:.3f} s")


if __name__ == "__main__":
    main()
