"""The pipeline in real Dagster (ephemeral instance): promotion only on allow, lineage always."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.orchestration.conftest import (
    ALLOW_AOI,
    DAYS,
    DENY_AOI,
    rewrite_source,
    source_of,
    tree_bytes,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Specifying a partitions_def on an AssetCheckSpec:dagster.PreviewWarning"
)
DAY = DAYS[-1]


def _partition_dir(root: Path, aoi: str, day: str = DAY) -> Path:
    return root / "data/processed/survey/historic_sites" / aoi / day


def _item(root: Path, aoi: str, day: str = DAY) -> Path:
    return root / "data/stac/historic_sites" / f"historic_sites-{aoi}-{day}" / "item.json"


def test_allowed_partition_is_promoted_with_catalog_entries(runner: Any, repo: Path) -> None:
    res = runner.run_partition(ALLOW_AOI, DAY)
    assert res.success, res.error
    assert res.outcome == "allow" and res.published
    release = json.loads((_partition_dir(repo, ALLOW_AOI) / "release.json").read_text())
    assert release["run_id"] == res.run_id
    assert release["public_files"] and all(
        (repo / f["path"]).is_file() for f in release["public_files"]
    )
    item = json.loads(_item(repo, ALLOW_AOI).read_text())
    assert item["properties"]["kfm:run_id"] == res.run_id
    assert (repo / "data/stac/historic_sites/collection.json").is_file()
    assert (repo / "data/stac/historic_sites/dcat.ttl").read_bytes().strip()
    assert res.decision_id in (repo / "data/graph/lineage.nt").read_text()


def test_denied_partition_is_blocked_in_the_same_run_and_lineage_is_written(
    runner: Any, repo: Path
) -> None:
    res = runner.run_partition(DENY_AOI, DAY)
    assert not res.success
    assert res.outcome == "deny" and "TEST_AOI_DENIED" in res.reasons
    assert not res.published
    assert not (_partition_dir(repo, DENY_AOI) / "release.json").exists()
    assert not _item(repo, DENY_AOI).exists()
    graph = repo / "data/graph/lineage.nt"
    assert not graph.exists() or res.decision_id not in graph.read_text()
    run_dir = repo / "mcp/runs" / res.run_id.replace(":", "_")
    decision = json.loads((run_dir / "decision.json").read_text())
    assert decision["outcome"] == "deny"
    assert {"request.json", "evidence.json", "config.json", "run.log"} <= {
        p.name for p in run_dir.iterdir()
    }
    assert not (_partition_dir(repo, DENY_AOI) / "public").exists()


def test_denied_partition_is_not_promoted_by_a_later_run_of_the_promotion_alone(
    runner: Any, repo: Path
) -> None:
    runner.run_partition(DENY_AOI, DAY)
    later = runner.run_partition(DENY_AOI, DAY, promotion_only=True)
    assert not later.success
    assert "did not pass" in (later.error or "") or "not allowed" in (later.error or "")
    assert not (_partition_dir(repo, DENY_AOI) / "release.json").exists()


def test_promotion_refuses_without_dagster_history_from_the_run_store_alone(
    repo: Path, runner: Any, tmp_path: Path
) -> None:
    """A fresh instance (no check history) still refuses: the gate's record decides."""
    import dagster as dg

    from kfm_gate.orchestration.runner import PipelineRunner

    runner.run_partition(DENY_AOI, DAY)
    fresh = PipelineRunner(
        repo,
        dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "fresh")),
        resource=runner.resource,
    )
    fresh.register_aois([DENY_AOI])
    later = fresh.run_partition(DENY_AOI, DAY, promotion_only=True)
    assert not later.success and "not allowed" in (later.error or "")
    assert not (_partition_dir(repo, DENY_AOI) / "release.json").exists()


def test_promotion_refuses_a_partition_never_gated(runner: Any, repo: Path) -> None:
    res = runner.run_partition(ALLOW_AOI, DAYS[0], promotion_only=True)
    assert not res.success
    assert "no promotion request" in (res.error or "")
    assert not (_partition_dir(repo, ALLOW_AOI, DAYS[0]) / "release.json").exists()


def test_promotion_refuses_when_the_candidate_changed_after_the_gate(
    runner: Any, repo: Path
) -> None:
    """Allowed, then the request changes (new candidate bytes): no decision covers it."""
    from kfm_gate.runs import dumps

    runner.run_partition(ALLOW_AOI, DAY)
    (_partition_dir(repo, ALLOW_AOI) / "release.json").unlink()
    req_path = _partition_dir(repo, ALLOW_AOI) / "request.json"
    doc = json.loads(req_path.read_text())
    doc["outputs"][0]["sha256"] = "sha256:" + "1" * 64
    req_path.write_text(dumps(doc))
    later = runner.run_partition(ALLOW_AOI, DAY, promotion_only=True)
    assert not later.success
    assert not (_partition_dir(repo, ALLOW_AOI) / "release.json").exists()


@pytest.mark.filterwarnings(
    "ignore:Parameter `include_sources` of function `AssetSelection.all`:dagster.BetaWarning"
)
def test_automation_requests_promotion_of_allowed_partitions_only(runner: Any, repo: Path) -> None:
    import dagster as dg

    from kfm_gate.orchestration.assets import PROCESSED_KEY, PUBLISHED_KEY
    from kfm_gate.orchestration.partitions import PartitionRef

    job = runner.defs.resolve_job_def("kfm_historic_sites_partition")
    # the latest daily window at this time is DAY
    when = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, hours=1)
    baseline = dg.evaluate_automation_conditions(
        defs=runner.defs, instance=runner.instance, evaluation_time=when
    )
    for aoi in (ALLOW_AOI, DENY_AOI):
        result = job.execute_in_process(
            partition_key=PartitionRef(aoi, DAY).multi_key(),
            instance=runner.instance,
            asset_selection=[PROCESSED_KEY],
            raise_on_error=False,
            run_config=runner.run_config,
        )
        checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert len(checks) == 1  # the gate ran with the processing asset
    evaluation = dg.evaluate_automation_conditions(
        defs=runner.defs,
        instance=runner.instance,
        evaluation_time=when + dt.timedelta(minutes=1),
        cursor=baseline.cursor,
    )
    requested = {
        str(k)
        for k in evaluation.get_requested_partitions(PUBLISHED_KEY)  # type: ignore[attr-defined]
    }
    assert PartitionRef(ALLOW_AOI, DAY).key in requested
    assert PartitionRef(DENY_AOI, DAY).key not in requested


def test_rerun_with_unchanged_inputs_reuses_the_decision_and_changes_no_byte(
    runner: Any, repo: Path
) -> None:
    first = runner.run_partition(ALLOW_AOI, DAY)
    denied = runner.run_partition(DENY_AOI, DAY)
    folders = ("data/processed", "data/stac", "data/graph", "mcp")
    before = tree_bytes(repo, *folders)
    again = runner.run_partition(ALLOW_AOI, DAY)
    denied_again = runner.run_partition(DENY_AOI, DAY)
    assert again.reused and denied_again.reused
    assert (again.run_id, again.decision_id) == (first.run_id, first.decision_id)
    assert (denied_again.run_id, denied_again.decision_id) == (
        denied.run_id,
        denied.decision_id,
    )
    after = tree_bytes(repo, *folders)
    assert after == before


def test_metadata_and_logs_carry_no_free_text_pii(runner: Any, repo: Path) -> None:
    email, phone = "hollis.quill@example.org", "785-555-0177"
    geoid = ALLOW_AOI.removeprefix("ks-county-")

    def plant(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        for row in rows:
            if row["county_geoid"] == geoid and row["survey_day"] == DAY:
                row["recorder_contact"] = email
                row["notes"] += f" Owner asks to be called first: {phone}."
        return rows

    rewrite_source(repo, source_of(repo, ALLOW_AOI), plant)
    for aoi in (ALLOW_AOI, DENY_AOI):
        runner.run_partition(aoi, DAY)
    candidate = _partition_dir(repo, ALLOW_AOI) / "candidate/sites.geojson"
    assert email in candidate.read_text()  # the data does carry the PII
    entries = [
        e for run in runner.instance.get_runs() for e in runner.instance.all_logs(run.run_id)
    ]
    kinds = {e.dagster_event.event_type_value for e in entries if e.dagster_event}
    assert {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"} <= kinds
    text = "\n".join(repr(e) for e in entries)
    assert email not in text and phone not in text
    assert "@example.org" not in text


def test_failed_processing_leaves_lineage(runner: Any, repo: Path) -> None:
    raw = next((repo / "data/raw").glob("*.csv"))
    raw.write_bytes(raw.read_bytes() + b"\n")  # no longer matches its manifest checksum
    res = runner.run_partition(ALLOW_AOI, DAY)
    assert not res.success
    events = list((repo / "mcp/lineage").rglob("*-FAIL.json"))
    assert events
    doc = json.loads(events[0].read_text())
    assert doc["eventType"] == "FAIL"
    assert "checksum" in doc["run"]["facets"]["errorMessage"]["message"]
    assert not (_partition_dir(repo, ALLOW_AOI) / "release.json").exists()
