"""Benchmark of the PII scan: what it finds on a labelled corpus, and how fast, honestly compared.

1. **Quality.** Per-entity recall and precision on kfm-gate's own labelled corpus
   (``tests/evidence/pii_corpus.py``: positives in many formats, Kansas hard negatives), for
   the scanner's fast path with and without NER, and for stock Presidio (its default
   recognizers and regions) with and without the same NER model. The ``RESULT`` lines give
   the scanner as deployed: with NER when the model is installed (``make ner``).
2. **Speed on the same rows.** The exact fast scan (``scan_frame``) and the plain cell-by-cell
   ``AnalyzerEngine.analyze`` (``scan_frame_reference``) on the SAME deterministic table of
   6 text columns, both timed, findings compared; with NER on the council's NER columns too
   (a smaller table: plain Presidio with spaCy costs milliseconds a cell).
3. **NER cost.** Milliseconds NER adds per distinct free-text cell (the NER analysis minus the
   patterns analysis of the same texts) and per demo partition (the PII collector on the
   bundled survey's partitions, with and without NER, model already loaded), and the one-off
   model load.

Run: ``.venv/bin/python benchmarks/bench_pii.py`` (``--quick`` for smaller tables).
Ends with one ``RESULT <metric> <value> <unit>`` line per target.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kfm_gate.orchestration.survey import SITE_TYPES  # noqa: E402

THRESHOLD = 0.4
SITE_WORDS = ["Fort", "Mill", "School", "Church", "Depot", "Creek", "Ridge", "Prairie", "Spring"]
PLACES = ["Larned", "Hays", "Scott", "Dodge", "Council Grove", "Lecompton", "Wallace", "Riley"]
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
FIRST = ["Ada", "Ben", "Cora", "Dale", "Edna", "Finn", "Gail", "Hugo", "Iris", "Jude", "Kurt"]
LAST = ["Albers", "Baker", "Clark", "Dietz", "Eller", "Fisher", "Graber", "Hoch", "Imhoff"]


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
        data["site_type"].append(rng.choice(SITE_TYPES))
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


# ---------------------------------------------------------------------------------------------
# 1. quality on the labelled corpus


def bench_quality(ner_package: str | None) -> dict[str, Any]:
    from kfm_gate.evidence.pii import exact_analysis
    from kfm_gate.evidence.recognizers import build_analyzer
    from tests.evidence.pii_corpus import (
        CASES,
        LABELLED,
        predict_fast,
        predict_plain,
        score,
        stock_analyzer,
    )

    configs: dict[str, Any] = {}
    patterns = build_analyzer(ner=False)
    fast = predict_fast(exact_analysis(patterns), CASES, THRESHOLD)
    configs["kfm fast"] = (fast, fast == predict_plain(patterns, CASES, THRESHOLD))
    configs["stock Presidio"] = (predict_plain(stock_analyzer(), CASES, THRESHOLD), None)
    if ner_package is not None:
        with_ner = build_analyzer(ner=True)
        fast_ner = predict_fast(exact_analysis(with_ner), CASES, THRESHOLD)
        same = fast_ner == predict_plain(with_ner, CASES, THRESHOLD)
        configs["kfm fast + NER"] = (fast_ner, same)
        stock = predict_plain(stock_analyzer(ner_package), CASES, THRESHOLD)
        configs["stock Presidio + NER"] = (stock, None)
    scores = {name: score(CASES, found) for name, (found, _) in configs.items()}
    negatives = [i for i, c in enumerate(CASES) if c.group == "kansas_negative"]
    print(f"corpus: {len(CASES)} cases, {len(negatives)} Kansas hard negatives, threshold >= 0.4")
    header = "".join(f"{name:>24}" for name in scores)
    print(f"{'entity (gold spans)':<26}{header}")
    for entity in LABELLED:
        gold = next(iter(scores.values()))[entity].gold
        cells = "".join(
            f"{s[entity].recall:>11.3f} / {s[entity].precision:<10.3f}" for s in scores.values()
        )
        print(f"{entity + f' ({gold})':<26}{cells}")
    print(f"{'':<26}" + "".join(f"{'recall / precision':>24}" for _ in scores))
    for name, (found, same) in configs.items():
        flagged = sum(1 for i in negatives if found[i])
        exact = "" if same is None else f", fast path == AnalyzerEngine.analyze: {same}"
        print(f"{name}: findings on Kansas hard negatives: {flagged}{exact}")
    deployed = "kfm fast + NER" if "kfm fast + NER" in scores else "kfm fast"
    identical = all(same for _, same in configs.values() if same is not None)
    return {"scores": scores[deployed], "deployed": deployed, "identical": identical}


FAKER_LOCALES = [
    "en_US",
    "en_GB",
    "en_IE",
    "en_CA",
    "en_AU",
    "en_NZ",
    "de_DE",
    "de_AT",
    "de_CH",
    "fr_FR",
    "nl_NL",
    "it_IT",
    "es_ES",
    "es_MX",
    "pt_PT",
    "pt_BR",
    "sv_SE",
    "da_DK",
    "no_NO",
    "fi_FI",
    "pl_PL",
    "cs_CZ",
    "sk_SK",
    "hu_HU",
    "ro_RO",
]


def bench_faker(per_locale: int) -> None:
    """Recall on values Faker writes for 25 locales (not part of the corpus, not labelled by
    hand): a second view, since the corpus was written together with the recognizers."""
    from faker import Faker

    from kfm_gate.evidence.recognizers import build_analyzer
    from tests.evidence.pii_corpus import stock_analyzer

    analyzers = {"kfm": build_analyzer(ner=False), "stock Presidio": stock_analyzer()}
    kinds = {
        "phone, bare": ("PHONE_NUMBER", lambda f: f.phone_number(), "Details: {}."),
        "phone, with 'call'": ("PHONE_NUMBER", lambda f: f.phone_number(), "Call me at {}."),
        "street address + city": ("STREET_ADDRESS", lambda f: f.address(), "Details: {}."),
        "card": ("CREDIT_CARD", lambda f: f.credit_card_number(), "Details: {}."),
    }
    print(f"Faker check ({len(FAKER_LOCALES)} locales x {per_locale}; recall at >= 0.4):")
    for label, (entity, make, template) in kinds.items():
        texts = []
        for locale in FAKER_LOCALES:
            fake = Faker(locale)
            fake.seed_instance(1854)
            texts += [template.format(make(fake)) for _ in range(per_locale)]
        shown = []
        for name, analyzer in analyzers.items():
            hits = sum(
                any(r.entity_type == entity for r in analyzer.analyze(t, "en", score_threshold=0.4))
                for t in texts
            )
            shown.append(f"{name} {hits / len(texts):.3f}")
        print(f"  {label:<24} {', '.join(shown)}")


# ---------------------------------------------------------------------------------------------
# 2. speed on the same rows


def bench_speed(rows: int, ner_rows: int, ner_package: str | None) -> dict[str, Any]:
    from kfm_gate.evidence.pii import Analyses, exact_analysis, scan_frame, scan_frame_reference
    from kfm_gate.evidence.recognizers import build_analyzer

    patterns = build_analyzer(ner=False)
    table = make_text_table(rows)
    cells = table.shape[0] * table.shape[1]
    t0 = time.perf_counter()
    plain = scan_frame_reference(table, analyzer=patterns)
    plain_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast, stats = scan_frame(table, analyzer=patterns, exact=exact_analysis(patterns))
    fast_s = time.perf_counter() - t0
    out: dict[str, Any] = {"speedup": plain_s / fast_s, "identical": fast == plain}
    print(
        f"patterns: the same {rows} rows x {table.shape[1]} columns ({cells} cells): plain "
        f"{plain_s:.2f} s, fast {fast_s:.2f} s ({stats.unique_values} distinct, "
        f"{stats.analyzed_values} analyzed), speedup {plain_s / fast_s:.1f} x, identical "
        f"findings: {fast == plain}"
    )
    if ner_package is None:
        return out
    with_ner = build_analyzer(ner=True)
    small = table.iloc[:ner_rows].reset_index(drop=True)
    columns = frozenset({"notes", "recorder_contact"})
    t0 = time.perf_counter()
    plain = scan_frame_reference(
        small, analyzer=patterns, ner_analyzer=with_ner, ner_columns=columns
    )
    plain_s = time.perf_counter() - t0
    analyses = Analyses(exact_analysis(patterns), exact_analysis(with_ner), columns)
    t0 = time.perf_counter()
    fast, _ = scan_frame(small, analyses=analyses)
    fast_s = time.perf_counter() - t0
    out["ner_speedup"] = plain_s / fast_s
    out["identical"] = out["identical"] and fast == plain
    print(
        f"NER on notes and recorder_contact: the same {ner_rows} rows: plain {plain_s:.2f} s, "
        f"fast {fast_s:.2f} s, speedup {plain_s / fast_s:.1f} x, identical findings: "
        f"{fast == plain}"
    )
    return out


# ---------------------------------------------------------------------------------------------
# 3. what NER costs


def bench_ner_cost(ner_package: str | None) -> dict[str, float]:
    if ner_package is None:
        print("NER cost: no NER model installed (make ner); not measured")
        return {}
    from kfm_gate.evidence.ner import load_ner
    from kfm_gate.evidence.pii import PiiCollector, exact_analysis
    from kfm_gate.evidence.recognizers import _build_analyzer_cached, build_analyzer
    from tests.evidence.conftest import build_ctx
    from tests.evidence.pii_corpus import CASES

    load_ner.cache_clear()
    _build_analyzer_cached.cache_clear()
    t0 = time.perf_counter()
    with_ner = build_analyzer(ner=True)
    load_s = time.perf_counter() - t0
    patterns = build_analyzer(ner=False)
    texts = sorted({c.text for c in CASES})

    def per_text(analyzer: Any) -> float:
        exact = exact_analysis(analyzer)  # a fresh cache: every text is analyzed
        t0 = time.perf_counter()
        for text in texts:
            raw = exact.raw(text)
            if raw is not None:
                exact.results(text, raw, [], THRESHOLD)
        return (time.perf_counter() - t0) * 1000 / len(texts)

    ms_ner = statistics.median(per_text(with_ner) for _ in range(3))
    ms_patterns = statistics.median(per_text(patterns) for _ in range(3))
    print(
        f"NER: model load {load_s:.2f} s once per process; per distinct free-text cell "
        f"{ms_ner:.2f} ms with NER, {ms_patterns:.2f} ms patterns only "
        f"(NER adds {ms_ner - ms_patterns:.2f} ms)"
    )
    # the demo's partitions: one county and day of the bundled survey each
    partitions: dict[tuple[str, str], list[dict[str, str]]] = {}
    for path in sorted((ROOT / "data" / "raw").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                partitions.setdefault((row["county_geoid"], row["survey_day"]), []).append(row)
    chosen = sorted(partitions)[:12]
    costs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, key in enumerate(chosen):
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(partitions[key][0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(partitions[key])
            files = {"sites.csv": buf.getvalue()}
            timings = {}
            for ner in (False, True):
                ctx = build_ctx(Path(tmp) / f"{i}-{ner}", files, dataset="historic_sites")
                t0 = time.perf_counter()
                PiiCollector(ner=ner).collect(ctx)
                timings[ner] = time.perf_counter() - t0
            costs.append((timings[True] - timings[False]) * 1000)
    per_partition = statistics.median(costs)
    print(
        f"NER per demo partition ({len(chosen)} partitions of 5-10 rows, PII collector, model "
        f"loaded): median {per_partition:.1f} ms more than patterns only"
    )
    return {
        "ms_per_cell": ms_ner - ms_patterns,
        "ms_per_partition": per_partition,
        "load_s": load_s,
    }


def main() -> None:
    from kfm_gate.evidence.ner import find_ner_package

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows (200 with NER)")
    args = parser.parse_args()
    rows, ner_rows = (2_000, 200) if args.quick else (10_000, 1_000)
    package = find_ner_package()
    print(f"NER model: {package or 'not installed (make ner)'}")
    quality = bench_quality(package)
    bench_faker(10 if args.quick else 40)
    speed = bench_speed(rows, ner_rows, package)
    cost = bench_ner_cost(package)
    print(f"RESULT lines below: {quality['deployed']}")
    for entity, s in quality["scores"].items():
        print(f"RESULT pii_recall_{entity} {s.recall:.3f} ratio")
        print(f"RESULT pii_precision_{entity} {s.precision:.3f} ratio")
    print(f"RESULT pii_speedup_same_rows {speed['speedup']:.1f} x")
    if "ner_speedup" in speed:
        print(f"RESULT pii_speedup_same_rows_ner {speed['ner_speedup']:.1f} x")
    print(f"RESULT pii_identical {int(speed['identical'] and quality['identical'])} bool")
    if cost:
        print(f"RESULT ner_ms_per_cell {cost['ms_per_cell']:.2f} ms")
        print(f"RESULT ner_ms_per_partition {cost['ms_per_partition']:.1f} ms")


if __name__ == "__main__":
    main()
