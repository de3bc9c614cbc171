"""The load run and the memory probes shared by ``test_load.py`` and the benchmark.

:func:`load_run` gates N distinct partitions through the gate's Python API in one process:
the embedded OPA (its child process), the integrity collectors, the geo context, masking and
verification, and a run record per partition (no PROV/catalog recorder: its cost is the
provenance benchmark's). It samples the process's resident memory as it goes.

:func:`peak_of_one_run` runs one gate in a fresh process and reports its peak resident memory
(``VmHWM``) and that of its child processes (the policy engine and the quality worker).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import REPO, dump, make_request, scratch_repo

AS_OF = dt.date(2026, 11, 3)
KEY = "load-run-masking-key-0123456789abcdef01"


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def hwm_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a process, in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return 0.0


def children_hwm_mb() -> float:
    """Sum of the peak resident memory of this process's live children, in MB."""
    me = str(os.getpid())
    total = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        if any(line.startswith("PPid:") and line.split()[1] == me for line in lines):
            total += hwm_mb(status.parent.name)
    return total


@dataclass
class LoadReport:
    partitions: int
    seconds: float
    samples: list[tuple[int, float]] = field(default_factory=list)  # (partitions done, RSS MB)
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.partitions / self.seconds

    @property
    def peak_mb(self) -> float:
        return max(mb for _, mb in self.samples)

    def growth_mb(self, after: int) -> float:
        """RSS growth between the first sample at or after ``after`` partitions and the end."""
        start = next(mb for n, mb in self.samples if n >= after)
        return self.samples[-1][1] - start


def load_run(base: Path, n: int, *, every: int = 500) -> LoadReport:
    """Gate ``n`` distinct partitions (see the module docstring)."""
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector
    from kfm_gate.gate import build_gate
    from kfm_gate.geo import GeoVerificationCollector, MaskingEngine, load_registries
    from kfm_gate.runtime import build_geo_provider

    os.environ["KFM_MASK_KEY"] = KEY
    base.mkdir(parents=True, exist_ok=True)
    root = scratch_repo(base)
    registries = load_registries(root / "data/aoi")
    gate = build_gate(
        root,
        as_of=AS_OF,
        collectors=[
            ChecksumCollector(),
            PlacementCollector(),
            GeoVerificationCollector(registries),
        ],
        obligation_engines=[MaskingEngine(registries)],
        geo_context=build_geo_provider(registries),
        aoi_ids=frozenset(registries.aoi.ids()),
    )
    doc = make_request(root)
    report = LoadReport(partitions=n, seconds=0.0)
    start = time.perf_counter()
    try:
        for i in range(n):
            doc["params"] = {"partition": i}
            run = gate.evaluate(dump(doc))
            report.outcomes[run.decision.outcome] = report.outcomes.get(run.decision.outcome, 0) + 1
            if i % every == 0 or i == n - 1:
                report.samples.append((i + 1, rss_mb()))
    finally:
        gate.close()
    report.seconds = time.perf_counter() - start
    return report


def _elements(doc: Any) -> int:
    """Members of all arrays and objects of ``doc`` (as the limit counts them)."""
    stack, total = [doc], 0
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            total += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            total += len(node)
            stack.extend(node)
    return total


def largest_request(root: Path) -> bytes:
    """A request at the limits of :data:`kfm_gate.limits.LIMITS`: just under request_bytes,
    exactly the most elements and the deepest nesting they allow, strings of the longest."""
    from kfm_gate.limits import LIMITS

    doc = make_request(root)
    chain: Any = 0
    for _ in range(LIMITS.depth - 2):  # request (1) -> params (2) -> 30 nested arrays
        chain = [chain]
    doc["params"] = {"deep": chain, "cells": []}
    blobs = 15  # 15 x 64 Ki characters, and the rest of the bytes in "pad"
    for k in range(blobs):
        doc["params"][f"blob{k:02d}"] = "x" * LIMITS.string_chars
    doc["params"]["pad"] = ""
    doc["params"]["cells"] = [0] * (LIMITS.elements - _elements(doc))
    room = LIMITS.request_bytes - len(dump(doc)) - 16
    doc["params"]["pad"] = "y" * max(0, min(room, LIMITS.string_chars))
    raw = dump(doc)
    assert len(raw) <= LIMITS.request_bytes and _elements(doc) == LIMITS.elements, len(raw)
    return raw


_LOAD = """
import json, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.reliability.load import children_hwm_mb, hwm_mb, load_run
report = load_run(Path({base!r}), {n})
print(json.dumps({{"seconds": report.seconds, "samples": report.samples,
                  "outcomes": report.outcomes, "self_mb": hwm_mb(),
                  "children_mb": children_hwm_mb()}}))
"""


def load_in_fresh_process(base: Path, n: int) -> tuple[LoadReport, float]:
    """:func:`load_run` in a fresh process (nothing else in its memory): the report and the
    peak resident memory of that process plus its child (the policy engine), in MB."""
    code = _LOAD.format(repo=str(REPO), base=str(base), n=n)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=7200
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load run failed: {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    report = LoadReport(
        partitions=n,
        seconds=doc["seconds"],
        samples=[(int(a), float(b)) for a, b in doc["samples"]],
        outcomes=doc["outcomes"],
    )
    return report, doc["self_mb"] + doc["children_mb"]


_PROBE = """
import json, os, sys
sys.path.insert(0, {repo!r})
os.environ["KFM_MASK_KEY"] = {key!r}
from pathlib import Path
from tests.reliability.load import children_hwm_mb, hwm_mb, probe_request
from kfm_gate.runtime import build_default_gate
import datetime as dt
root = Path({root!r})
raw = probe_request(root, {kind!r})
gate = build_default_gate(root, as_of=dt.date(2026, 11, 3), force=True)
run = gate.evaluate(raw)
out = {{"outcome": run.decision.outcome, "error": run.decision.error, "bytes": len(raw),
       "self_mb": hwm_mb(), "children_mb": children_hwm_mb()}}
print(json.dumps(out))
"""


def probe_request(root: Path, kind: str) -> bytes:
    """The request of a memory probe: a demo survey partition, or the largest request."""
    if kind == "largest":
        return largest_request(root)
    from kfm_gate.orchestration.processing import build_candidate

    built = build_candidate(root, "ks-county-20177", "2026-11-03", code_ref="5d41402abc4b2a76")
    return dump(built.request.to_json_dict())


def peak_of_one_run(base: Path, kind: str) -> dict[str, Any]:
    """One gate run (``demo`` partition or ``largest`` request) in a fresh process."""
    import shutil

    root = base / f"probe-{kind}"
    root.mkdir(parents=True)
    shutil.copytree(REPO / "policies", root / "policies")
    shutil.copytree(
        REPO / "data", root / "data", ignore=shutil.ignore_patterns("processed", "stac", "graph")
    )
    code = _PROBE.format(repo=str(REPO), key=KEY, root=str(root), kind=kind)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {kind} failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
