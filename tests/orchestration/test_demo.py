"""The demo command end to end, with the project's real policies (slow)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.orchestration.conftest import make_repo


@pytest.mark.slow
def test_demo_runs_every_partition_and_publishes_only_allowed_ones(
    tmp_path: Path, mask_key: str
) -> None:
    from kfm_gate.orchestration.demo import DEMO_COUNTIES, run_demo
    from kfm_gate.orchestration.resources import clear_gate_cache

    aois = DEMO_COUNTIES[:4]
    repo = make_repo(tmp_path, counties=aois, days=("2026-11-03",), real_policies=True)
    out, err = io.StringIO(), io.StringIO()
    try:
        code = run_demo(repo, aois=aois, days=["2026-11-03"], out=out, err=err)
        again = io.StringIO()
        run_demo(repo, aois=aois, days=["2026-11-03"], out=again, err=io.StringIO())
    finally:
        clear_gate_cache()
    assert code == 0, err.getvalue()
    table = out.getvalue()
    assert "4 partitions" in table and "dagster dev" in table
    assert (repo / ".dagster_home/dagster.yaml").read_text().strip().endswith("enabled: false")
    for aoi in aois:
        part = repo / "data/processed/survey/historic_sites" / aoi / "2026-11-03"
        request = json.loads((part / "request.json").read_text())
        assert request["partition"]["aoi_key"] == aoi
        runs = [
            json.loads(p.read_text())
            for p in (repo / "mcp/runs").glob("*/decision.json")
            if json.loads(p.read_text())["partition"].get("aoi_key") == aoi
        ]
        assert len(runs) == 1
        published = (part / "release.json").is_file()
        assert published == (runs[0]["outcome"] == "allow")
        assert f"{aoi}|2026-11-03   {runs[0]['outcome']}" in table
    # same inputs: same table rows (decisions reused, nothing recomputed)
    rows = [line for line in table.splitlines() if line.startswith("ks-county-")]
    assert rows == [line for line in again.getvalue().splitlines() if line.startswith("ks-")]
