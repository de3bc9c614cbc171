"""``build_gate_checks`` on another team's asset, through an overridden translator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ZERO, public_flags
from tests.orchestration.conftest import ALLOW_AOI, DAYS, DENY_AOI

pytestmark = pytest.mark.filterwarnings(
    "ignore:Specifying a partitions_def on an AssetCheckSpec:dagster.PreviewWarning"
)


def _team_defs(repo: Path, *, write: bool = True) -> Any:
    import dagster as dg

    from kfm_gate.errors import InputError
    from kfm_gate.models import InputRef, OutputRef, Partition, PromotionRequest
    from kfm_gate.orchestration.checks import build_gate_checks
    from kfm_gate.orchestration.partitions import context_partition, partitions_def
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.translator import KfmGateTranslator

    def rel(aoi: str, day: str) -> str:
        return f"data/processed/fieldwork/mills/{aoi}/{day}/candidate/mills.csv"

    @dg.asset(key=["fieldwork", "mills"], partitions_def=partitions_def)
    def mills(context):  # type: ignore[no-untyped-def]
        part = context_partition(context)
        path = repo / rel(part.aoi_key, part.day)
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("site_id,name\nm1,Old Mill\n")

    class MillsTranslator(KfmGateTranslator):
        def get_check_name(self, asset_key: dg.AssetKey) -> str:
            return "council_gate"

        def get_request(self, context: Any, root: Path, asset_key: Any, partition: Any) -> Any:
            path = root / rel(partition.aoi_key, partition.day)
            if not path.is_file():
                raise InputError(f"no candidate at {path}")
            data = path.read_bytes()
            return PromotionRequest(
                asset_key="fieldwork/mills",
                pipeline="fieldwork",
                dataset="mills",
                partition=Partition(aoi_key=partition.aoi_key, time_key=partition.day),
                inputs=(InputRef(id="src:mills", sha256=ZERO, flags=public_flags()),),
                outputs=(
                    OutputRef(
                        path=rel(partition.aoi_key, partition.day),
                        sha256="sha256:" + hashlib.sha256(data).hexdigest(),
                        media_type="text/csv",
                    ),
                ),
            )

    checks = build_gate_checks([mills], partitions_def=partitions_def, translator=MillsTranslator())
    # the mills table has no quality suite: the council declares it optional (a suite the
    # council requires and the gate cannot find is outcome error)
    quality = repo / "policies/data/quality.json"
    doc = json.loads(quality.read_text())
    quality.write_text(json.dumps({**doc, "optional_datasets": ["mills"]}))
    return mills, checks, KfmGateResource(root=str(repo), as_of=DAYS[-1])


@pytest.mark.parametrize(("aoi", "passed"), [(ALLOW_AOI, True), (DENY_AOI, False)])
def test_another_team_gates_its_asset_without_changing_it(
    repo: Path, tmp_path: Path, aoi: str, passed: bool
) -> None:
    import dagster as dg

    from kfm_gate.orchestration.partitions import AOI_PARTITIONS_NAME, PartitionRef

    mills, checks, resource = _team_defs(repo)
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        instance.add_dynamic_partitions(AOI_PARTITIONS_NAME, [aoi])
        result = dg.materialize(
            [mills, *checks],
            instance=instance,
            resources={"kfm_gate": resource},
            partition_key=PartitionRef(aoi, DAYS[-1]).multi_key(),
            raise_on_error=False,
        )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "council_gate"
    assert evaluation.passed is passed
    meta = evaluation.metadata
    assert meta["kfm/outcome"].value == ("allow" if passed else "deny")
    assert str(meta["kfm/run_id"].value).startswith("run:kfm-gate:")


def test_gate_check_fails_closed_when_the_translator_has_no_request(
    repo: Path, tmp_path: Path
) -> None:
    """The asset ran but left nothing to gate: the check fails, says error, leaves lineage."""
    import dagster as dg

    from kfm_gate.orchestration.partitions import AOI_PARTITIONS_NAME, PartitionRef

    mills, checks, resource = _team_defs(repo, write=False)
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        instance.add_dynamic_partitions(AOI_PARTITIONS_NAME, [ALLOW_AOI])
        result = dg.materialize(
            [mills, *checks],
            instance=instance,
            resources={"kfm_gate": resource},
            partition_key=PartitionRef(ALLOW_AOI, DAYS[-1]).multi_key(),
            raise_on_error=False,
        )
    assert not result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["kfm/outcome"].value == "error"
    assert evaluation.metadata["kfm/reason_codes"].value == "POLICY_INPUT_INCOMPLETE"
    assert list((repo / "mcp/lineage").rglob("*-FAIL.json"))
