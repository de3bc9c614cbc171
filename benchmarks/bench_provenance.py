"""Benchmark: recording one decision, publishing one allowed partition; ledger verification rate.

* provenance_median_ms: ``RunStore.record`` of one allowed decision (run record, masked public
  view, PROV-O, OpenLineage, ledger entry: one transaction), what the gate does at its end;
* publish_median_ms: ``Publisher.publish`` of that decision (public view, STAC item and
  collection, DCAT, lineage graph, publication state, ledger entry: one transaction) into a
  catalog that grows to 60 items;
* beside them (info): a denial recorded, and record + publish together (what one
  ``record_run(promote=True)`` did before the gate and the publisher were split).

Run: .venv/bin/python benchmarks/bench_provenance.py
Prints one line per target: ``RESULT <metric> <value> <unit>``. The catalogs are written
under ``.bench/`` in the checkout (``KFM_BENCH_DIR`` to change it), where the gate writes its
own records; the same measurement in the system's temporary folder is printed beside it.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kfm_gate.ids import digest
from kfm_gate.layout import Layout
from kfm_gate.provenance import Ledger
from kfm_gate.provenance.ledger import entry_from_decision
from kfm_gate.publication import Publisher
from kfm_gate.runs import RunStore
from kfm_gate.samples import sample_draft, sample_record


def bench_record(base: Path, n: int = 60, rounds: int = 3) -> dict[str, float]:
    """Record then publish one allowed decision into a catalog that grows to ``n`` items, and
    record a denial, side by side; ``rounds`` fresh repositories, created under ``base`` and
    removed only after the last one (removing thousands of files makes the file system slower
    for a while: that is the benchmark's own doing, not the gate's, which never deletes
    records).

    Returns medians and 90th percentiles (wall ms) over every decision of every round, and the
    median process CPU ms of a recording (fsync waits are not CPU time).
    """
    record: list[float] = []
    publish: list[float] = []
    both: list[float] = []
    deny: list[float] = []
    record_cpu: list[float] = []
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-provenance-") as tmp:
        for r in range(rounds):
            root = Path(tmp) / f"round-{r}"
            root.mkdir()
            layout = Layout(root)
            store = RunStore(layout)
            publisher = Publisher(layout, store=store)
            warm = sample_draft("allow", day="2026-01-01")  # warm-up
            store.record(warm)
            publisher.publish(warm.request, warm.decision.run_id)  # type: ignore[arg-type]
            for i in range(n):
                day = f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}"
                draft = sample_draft("allow", aoi="ks-county-20045", day=day)
                t, c = time.perf_counter(), time.process_time()
                store.record(draft)
                mid = time.perf_counter()
                record_cpu.append((time.process_time() - c) * 1000)
                publisher.publish(draft.request, draft.decision.run_id)  # type: ignore[arg-type]
                end = time.perf_counter()
                record.append((mid - t) * 1000)
                publish.append((end - mid) * 1000)
                both.append((end - t) * 1000)
                denied = sample_draft("deny", aoi="ks-county-20177", day=day)
                t = time.perf_counter()
                store.record(denied)
                deny.append((time.perf_counter() - t) * 1000)

    def p90(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=10)[-1]

    return {
        "record_median": statistics.median(record),
        "record_p90": p90(record),
        "record_cpu_median": statistics.median(record_cpu),
        "publish_median": statistics.median(publish),
        "publish_p90": p90(publish),
        "both_median": statistics.median(both),
        "deny_median": statistics.median(deny),
        "deny_p90": p90(deny),
    }


def create_ms(base: Path, n: int = 200) -> float:
    """Median cost of creating one file in a new folder under ``base`` (the file system's
    part of a record; it differs a lot between folders of the same disk on some machines)."""
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-create-") as tmp:
        times = []
        for i in range(n):
            t = time.perf_counter()
            folder = Path(tmp) / f"d{i}"
            folder.mkdir()
            (folder / "f").write_bytes(b"x")
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)


def bench_verify(n: int = 100_000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.jsonl")
        d = sample_record("allow").decision.to_json_dict()
        entry = entry_from_decision(d, decision_digest=digest(d))
        # build the file directly with the ledger's own append for a few entries, then
        # replicate the chain in bulk through the same code path (append is fsync-bound)
        for _ in range(200):
            ledger.append(entry)
        lines = [ledger.path.read_bytes()]
        import hashlib
        import json

        from kfm_gate.ids import canonical_json

        last = ledger.entries()[-1]
        prev = "sha256:" + hashlib.sha256(canonical_json(last)).hexdigest()
        seq = last["seq"]
        out = []
        for _ in range(n - 200):
            seq += 1
            body = canonical_json({**entry, "prev": prev, "seq": seq})
            h = "sha256:" + hashlib.sha256(body).hexdigest()
            out.append(b'{"entry":' + body + b',"hash":"' + h.encode() + b'"}\n')
            prev = h
        with ledger.path.open("ab") as fh:
            fh.write(b"".join(out))
        ledger.head_path.write_text(json.dumps({"count": seq, "hash": prev}))
        del lines
        best = 0.0
        for _ in range(3):
            t = time.perf_counter()
            report = ledger.verify()
            rate = report.entries / (time.perf_counter() - t)
            assert report.ok, report.render_text()[:500]
            best = max(best, rate)
        return best


def scratch_base() -> Path:
    """Where the catalogs are written: ``$KFM_BENCH_DIR``, else ``.bench/`` in this checkout
    (gitignored), because the gate writes its records into the repository it gates."""
    import os

    base = Path(os.environ.get("KFM_BENCH_DIR") or Path(__file__).resolve().parents[1] / ".bench")
    base.mkdir(parents=True, exist_ok=True)
    return base


def main() -> None:
    import os

    load_before = os.getloadavg()[0]
    base = scratch_base()
    system_tmp = Path(tempfile.gettempdir())
    r = bench_record(base)
    tmp_round = bench_record(system_tmp, rounds=1)  # the same, once, in the system's tmp
    rate = bench_verify()
    print(
        f"info catalogs written under {base} (one file created in a new folder: "
        f"{create_ms(base):.3f} ms; in {system_tmp}: {create_ms(system_tmp):.3f} ms)"
    )
    print(
        f"info the same benchmark once in {system_tmp}: record median "
        f"{tmp_round['record_median']:.2f} ms, publish median {tmp_round['publish_median']:.2f} ms"
    )
    print(
        f"info load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after on "
        f"{os.cpu_count()} CPUs (other processes' CPU and file system load move the wall times)"
    )
    print(
        f"info record (allow) median {r['record_median']:.2f} ms, p90 {r['record_p90']:.2f} ms, "
        f"CPU median {r['record_cpu_median']:.2f} ms; publish median "
        f"{r['publish_median']:.2f} ms, p90 {r['publish_p90']:.2f} ms; record + publish "
        f"median {r['both_median']:.2f} ms"
    )
    print(f"info record (deny) median {r['deny_median']:.2f} ms, p90 {r['deny_p90']:.2f} ms")
    from kfm_gate.catalog.schemacode import code_dir, load_validator
    from kfm_gate.catalog.stac import ITEM_EXTENSIONS

    built = load_validator(ITEM_EXTENSIONS[0]) is not None
    print(
        "info STAC validation: "
        + (f"generated validators from {code_dir()}" if built else "jsonschema only (not built)")
    )
    print(f"RESULT provenance_median_ms {r['record_median']:.2f} ms")
    print(f"RESULT publish_median_ms {r['publish_median']:.2f} ms")
    print(f"RESULT ledger_verify_per_s {rate:.0f} entries/s")


if __name__ == "__main__":
    main()
