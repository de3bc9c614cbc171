"""The Dagster home: an existing dagster.yaml is used as is, never rewritten; psycopg2 URLs;
the ``kfm/aoi`` tag on partition runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kfm_gate.errors import ConfigError
from kfm_gate.orchestration.instance import (
    AOI_TAG,
    DEFAULT_DAGSTER_YAML,
    check_dagster_yaml,
    open_instance,
    partition_tags,
    postgres_dagster_yaml,
    prepare_home,
)
from tests.orchestration.conftest import ALLOW_AOI, DAYS, DENY_AOI

pytestmark = pytest.mark.filterwarnings(
    "ignore:Specifying a partitions_def on an AssetCheckSpec:dagster.PreviewWarning"
)


def _yaml(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_new_home_gets_the_default_and_an_existing_one_is_kept_byte_for_byte(
    tmp_path: Path,
) -> None:
    cfg = prepare_home(tmp_path / "new")
    assert cfg.storage == "sqlite"
    assert (tmp_path / "new/dagster.yaml").read_text() == DEFAULT_DAGSTER_YAML
    own = "# ours\ntelemetry:\n  enabled: true\nrun_monitoring:\n  enabled: true\n"
    path = _yaml(tmp_path / "own", own)
    before = path.stat().st_mtime_ns
    prepare_home(tmp_path / "own")
    open_instance(tmp_path / "own").dispose()
    assert path.read_text() == own and path.stat().st_mtime_ns == before


def test_a_postgres_url_must_name_the_psycopg2_driver(tmp_path: Path) -> None:
    bare = _yaml(
        tmp_path / "a",
        "storage:\n  postgres:\n    postgres_url: postgresql://u:pw@db:5432/dagster\n",
    )
    with pytest.raises(
        ConfigError, match=r"storage\.postgres\.postgres_url .*postgresql\+psycopg2"
    ):
        check_dagster_yaml(bare)
    with pytest.raises(ConfigError, match="scheme"):
        prepare_home(tmp_path / "a")  # the same check before Dagster is asked
    assert "postgresql://u:pw@db" in bare.read_text()  # and the file is left as it was
    for name, text, match in (
        (
            "b",
            "storage:\n  postgres:\n    postgres_db:\n      username: u\n      password: pw\n"
            "      hostname: db\n      db_name: dagster\n      port: 5433\n",
            r"postgres_db\.scheme.*scheme: postgresql\+psycopg2",
        ),
        (
            "c",
            "run_storage:\n  module: dagster_postgres.run_storage\n  class: PostgresRunStorage\n"
            "  config:\n    postgres_url: postgresql+psycopg://u@db/dagster\n",
            r"run_storage\.config\.postgres_url",
        ),
    ):
        with pytest.raises(ConfigError, match=match):
            check_dagster_yaml(_yaml(tmp_path / name, text))


def test_a_good_postgres_yaml_is_described_without_its_password(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path / "h",
        "storage:\n  postgres:\n    postgres_url:\n      env: KFM_TEST_DAGSTER_PG\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n  config:\n    max_concurrent_runs: 3\n",
    )
    with pytest.raises(ConfigError, match=r"\$KFM_TEST_DAGSTER_PG, which is not set"):
        check_dagster_yaml(path, environ={})
    cfg = check_dagster_yaml(
        path, environ={"KFM_TEST_DAGSTER_PG": "postgresql+psycopg2://kfm:s3cret@db:6543/dagster"}
    )
    assert (cfg.storage, cfg.location) == ("postgres", "db:6543/dagster")
    assert (cfg.run_coordinator, cfg.max_concurrent_runs) == ("QueuedRunCoordinator", 3)
    assert "s3cret" not in cfg.describe() and "max_concurrent_runs 3" in cfg.describe()
    broken = _yaml(tmp_path / "x", "storage: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        check_dagster_yaml(broken)


def test_the_generated_postgres_yaml_is_a_valid_dagster_instance_config(tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    text = postgres_dagster_yaml(url_env="DAGSTER_PG_URL", max_concurrent_runs=4)
    home = tmp_path / "home"
    _yaml(home, text)
    cfg = check_dagster_yaml(
        home / "dagster.yaml", environ={"DAGSTER_PG_URL": "postgresql+psycopg2://u@h:1/d"}
    )
    assert cfg.storage == "postgres" and cfg.max_concurrent_runs == 4
    validated, _ = dagster_instance_config(str(home))
    limits = validated["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert limits == [{"key": AOI_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    with pytest.raises(ConfigError, match="postgresql"):
        postgres_dagster_yaml("postgresql://u@h/d")


def test_partition_runs_carry_the_aoi_tag(tmp_path: Path, repo: Path) -> None:
    """The source sensor sets ``kfm/aoi`` on every partition run it requests."""
    import dagster as dg

    from kfm_gate.orchestration.pipeline import PARTITION_JOB, build_definitions
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.sensors import SENSOR_NAME

    assert partition_tags(ALLOW_AOI) == {"kfm/aoi": ALLOW_AOI}
    resource = KfmGateResource(root=str(repo), as_of=DAYS[-1])
    sensor = build_definitions(repo, resource=resource).resolve_sensor_def(SENSOR_NAME)
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        result: Any = sensor(
            dg.build_sensor_context(instance=instance, resources={"kfm_gate": resource})
        )
    runs = [r for r in result.run_requests if r.job_name == PARTITION_JOB]
    assert {str(r.partition_key) for r in runs} == {
        f"{a}|{d}" for a in (ALLOW_AOI, DENY_AOI) for d in DAYS
    }
    for run in runs:
        assert run.tags[AOI_TAG] == str(run.partition_key).split("|")[0]


def test_the_runner_tags_its_runs_and_keeps_a_postgres_home(
    tmp_path: Path, repo: Path, postgres_url: str
) -> None:
    """A PostgreSQL dagster.yaml (psycopg2) works as it is: runs are stored there, tagged."""
    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.runner import PipelineRunner

    url = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    home = tmp_path / "pg_home"
    text = postgres_dagster_yaml(url)
    path = _yaml(home, text)
    instance = open_instance(home)
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runner = PipelineRunner(
            repo, instance, resource=KfmGateResource(root=str(repo), as_of=DAYS[-1])
        )
        runner.register_aois([ALLOW_AOI])
        assert runner.snapshot_sources()
        (run,) = instance.get_runs()
        assert run.is_success
    finally:
        instance.dispose()
    assert path.read_text() == text


def test_a_bare_postgresql_url_breaks_dagster_postgres(tmp_path: Path, postgres_url: str) -> None:
    """Why the check exists: with psycopg 3 installed, SQLAlchemy picks it for postgresql://
    and dagster-postgres' first event write fails (when this passes no more, relax the check)."""
    import dagster as dg

    _yaml(tmp_path / "bare", f"storage:\n  postgres:\n    postgres_url: {postgres_url}\n")

    @dg.op
    def one() -> int:
        return 1

    @dg.job
    def probe() -> None:
        one()

    instance = dg.DagsterInstance.from_config(str(tmp_path / "bare"))
    try:
        with pytest.raises(Exception, match=r"NOTIFY|\$1"):
            probe.execute_in_process(instance=instance)
    finally:
        instance.dispose()
