"""Load (issue #12): 10,000 partitions through the gate's Python API in one process, with
memory flat, and the peak memory of one gate run (demo partition, largest request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.load import load_run, peak_of_one_run

pytestmark = pytest.mark.slow


@pytest.mark.timeout(3600)
def test_ten_thousand_partitions_keep_memory_flat(tmp_path: Path) -> None:
    report = load_run(tmp_path, 10_000)
    print(
        f"load: {report.partitions} partitions in {report.seconds:.0f} s "
        f"({report.per_second:.1f}/s), RSS {report.samples[0][1]:.0f} -> "
        f"{report.samples[-1][1]:.0f} MB (peak {report.peak_mb:.0f} MB)"
    )
    assert sum(report.outcomes.values()) == 10_000
    assert "error" not in report.outcomes, report.outcomes
    # after warm-up (imports, the compiled policies, caches filled), memory stays flat
    assert report.growth_mb(after=1_000) < 25, report.samples


@pytest.mark.parametrize("kind", ["demo", "largest"])
def test_peak_memory_of_one_gate_run(tmp_path: Path, kind: str) -> None:
    result = peak_of_one_run(tmp_path, kind)
    print(f"peak {kind}: {result}")
    assert result["outcome"] in ("allow", "deny", "quarantine"), result["error"]
    assert result["self_mb"] + result["children_mb"] < 1500
