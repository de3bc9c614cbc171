"""The source sensor: only new or changed manifests run; appends, corrections, versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.orchestration.conftest import (
    ALLOW_AOI,
    DAYS,
    DENY_AOI,
    make_repo,
    rewrite_source,
    tree_bytes,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Specifying a partitions_def on an AssetCheckSpec:dagster.PreviewWarning"
)
OTHER_AOI = "ks-county-20169"  # Saline: the North Central source
NE, NC = "ks_survey_ne", "ks_survey_nc"
NEW_DAY = "2026-11-04"


@pytest.fixture
def repo3(tmp_path: Path, mask_key: str) -> Iterator[Path]:
    from kfm_gate.orchestration.resources import clear_gate_cache

    yield make_repo(tmp_path, counties=(ALLOW_AOI, DENY_AOI, OTHER_AOI))
    clear_gate_cache()


def _correct(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    rows[0]["condition"] = "destroyed" if rows[0]["condition"] != "destroyed" else "good"
    return rows


def _append(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    extra = []
    for row in rows:
        if row["survey_day"] == DAYS[-1]:
            new = dict(row, survey_day=NEW_DAY)
            new["site_id"] = row["site_id"].replace(DAYS[-1].replace("-", ""), "20261104")
            extra.append(new)
    return rows + extra


def test_first_tick_runs_every_fed_partition_then_nothing(repo3: Path) -> None:
    from kfm_gate.orchestration.cursor import plan_source_runs

    first = plan_source_runs(repo3, None)
    assert {c.source_id for c in first.changes} == {NE, NC}
    assert {c.reason for c in first.changes} == {"new"}
    expected = {(a, d) for a in (ALLOW_AOI, DENY_AOI, OTHER_AOI) for d in DAYS}
    assert set(first.partitions()) == expected
    second = plan_source_runs(repo3, first.cursor_json())
    assert second.changes == [] and second.problems == []
    assert second.cursor == first.cursor


def test_correction_with_a_new_version_regates_exactly_its_partitions(repo3: Path) -> None:
    from kfm_gate.orchestration.cursor import plan_source_runs

    cursor = plan_source_runs(repo3, None).cursor_json()
    rewrite_source(repo3, NC, _correct, version="2", predecessor="1")
    plan = plan_source_runs(repo3, cursor)
    assert [(c.source_id, c.reason, c.version, c.predecessor_version) for c in plan.changes] == [
        (NC, "correction", "2", "1")
    ]
    assert set(plan.partitions()) == {(OTHER_AOI, d) for d in DAYS}


def test_correction_without_a_new_version_is_refused_until_fixed(repo3: Path) -> None:
    from kfm_gate.orchestration.cursor import plan_source_runs

    cursor = plan_source_runs(repo3, None).cursor_json()
    rewrite_source(repo3, NC, _correct)
    plan = plan_source_runs(repo3, cursor)
    assert plan.changes == []
    assert len(plan.problems) == 1 and "without a new version" in plan.problems[0]
    assert plan.cursor_json() == cursor  # the old state is kept: reported again next tick
    rewrite_source(repo3, NC, lambda rows: rows, version="2", predecessor="9")
    wrong = plan_source_runs(repo3, cursor)
    assert wrong.changes == [] and "predecessor" in wrong.problems[0]
    rewrite_source(repo3, NC, lambda rows: rows, version="2", predecessor="1")
    fixed = plan_source_runs(repo3, cursor)
    assert [c.reason for c in fixed.changes] == ["correction"]


def test_append_to_an_append_only_source_runs_only_the_new_partitions(repo3: Path) -> None:
    from kfm_gate.orchestration.cursor import plan_source_runs

    cursor = plan_source_runs(repo3, None).cursor_json()
    rewrite_source(repo3, NE, _append)
    plan = plan_source_runs(repo3, cursor)
    assert [(c.source_id, c.reason) for c in plan.changes] == [(NE, "append")]
    assert set(plan.partitions()) == {(ALLOW_AOI, NEW_DAY), (DENY_AOI, NEW_DAY)}


def test_a_rights_or_flags_edit_regates_every_partition_of_that_source(repo3: Path) -> None:
    import yaml

    from kfm_gate.orchestration.cursor import plan_source_runs

    cursor = plan_source_runs(repo3, None).cursor_json()
    path = repo3 / "data/sources" / f"{NC}.yml"
    doc = yaml.safe_load(path.read_text())
    doc["flags"]["licenses"] = ["CC-BY-SA-4.0"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = plan_source_runs(repo3, cursor)
    assert [(c.source_id, c.reason) for c in plan.changes] == [(NC, "manifest")]
    assert set(plan.partitions()) == {(OTHER_AOI, d) for d in DAYS}


def test_dagster_sensor_adds_aois_and_requests_one_run_per_partition(
    repo3: Path, tmp_path: Path
) -> None:
    import dagster as dg

    from kfm_gate.orchestration.partitions import AOI_PARTITIONS_NAME
    from kfm_gate.orchestration.pipeline import PARTITION_JOB, SOURCE_JOB, build_definitions
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.sensors import SENSOR_NAME

    resource = KfmGateResource(root=str(repo3), as_of=DAYS[-1])
    defs = build_definitions(repo3, resource=resource)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"kfm_gate": resource})
        result: Any = sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        (added,) = result.dynamic_partitions_requests
        assert added.partitions_def_name == AOI_PARTITIONS_NAME
        assert {ALLOW_AOI, DENY_AOI, OTHER_AOI} <= set(added.partition_keys)
        runs = result.run_requests
        part_runs = [r for r in runs if r.job_name == PARTITION_JOB]
        snap_runs = [r for r in runs if r.job_name == SOURCE_JOB]
        assert len(snap_runs) == 2
        keys = {str(r.partition_key) for r in part_runs}
        assert keys == {f"{a}|{d}" for a in (ALLOW_AOI, DENY_AOI, OTHER_AOI) for d in DAYS}
        assert all(isinstance(r.partition_key, dg.MultiPartitionKey) for r in part_runs)
        assert len({r.run_key for r in runs}) == len(runs)
        # next tick, same manifests: nothing to run
        instance.add_dynamic_partitions(AOI_PARTITIONS_NAME, list(added.partition_keys))
        again: Any = sensor(
            dg.build_sensor_context(
                instance=instance, cursor=result.cursor, resources={"kfm_gate": resource}
            )
        )
        assert not again.run_requests and not again.dynamic_partitions_requests


def test_changing_one_manifest_regates_exactly_the_partitions_it_feeds(
    repo3: Path, tmp_path: Path
) -> None:
    import dagster as dg

    from kfm_gate.orchestration.cursor import plan_source_runs
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.runner import PipelineRunner

    runner = PipelineRunner(
        repo3,
        dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")),
        resource=KfmGateResource(root=str(repo3), as_of=DAYS[-1]),
    )
    runner.register_aois([ALLOW_AOI, DENY_AOI, OTHER_AOI])
    first = plan_source_runs(repo3, None)
    before = {f"{a}|{d}": runner.run_partition(a, d) for a, d in first.partitions()}
    ne_files = {
        k: v
        for k, v in tree_bytes(repo3, "data/processed", "data/stac", "data/graph").items()
        if ALLOW_AOI in k or DENY_AOI in k  # collection-level files legitimately change
    }
    runs_before = {p.name for p in (repo3 / "mcp/runs").iterdir()}

    rewrite_source(repo3, NC, _correct, version="2", predecessor="1")
    plan = plan_source_runs(repo3, first.cursor_json())
    after = {f"{a}|{d}": runner.run_partition(a, d) for a, d in plan.partitions()}

    assert set(after) == {f"{OTHER_AOI}|{d}" for d in DAYS}
    for key, res in after.items():
        assert not res.reused and res.run_id != before[key].run_id
        assert res.outcome == "allow" and res.published
    new_runs = {p.name for p in (repo3 / "mcp/runs").iterdir()} - runs_before
    assert new_runs == {r.run_id.replace(":", "_") for r in after.values()}
    ne_after = {
        k: v
        for k, v in tree_bytes(repo3, "data/processed", "data/stac", "data/graph").items()
        if ALLOW_AOI in k or DENY_AOI in k  # collection-level files legitimately change
    }
    assert ne_after == ne_files
    # the STAC item of a corrected partition is version 2, linked to its predecessor
    item = repo3 / f"data/stac/historic_sites/historic_sites-{OTHER_AOI}-{DAYS[0]}/item.json"
    doc = __import__("json").loads(item.read_text())
    assert doc["properties"]["version"] == "2"
    assert any(link["rel"] == "predecessor-version" for link in doc["links"])
