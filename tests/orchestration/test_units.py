"""Partition keys, the resource's fail-fast settings, the demo data, the CLI hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.errors import ConfigError, PartitionKeyError
from tests.helpers import REPO
from tests.orchestration.conftest import ALLOW_AOI, DAYS

pytestmark = pytest.mark.filterwarnings(
    "ignore:Specifying a partitions_def on an AssetCheckSpec:dagster.PreviewWarning"
)


def test_partition_key_parses_from_a_string_or_a_multipartitionkey() -> None:
    import dagster as dg

    from kfm_gate.orchestration.partitions import PartitionRef, parse_partition, partitions_def

    multi = dg.MultiPartitionKey({"aoi": "ks-county-20045", "day": "2026-11-01"})
    assert str(multi) == "ks-county-20045|2026-11-01"
    from_str = parse_partition("ks-county-20045|2026-11-01")
    from_multi = parse_partition(multi)
    assert from_str == from_multi == PartitionRef("ks-county-20045", "2026-11-01")
    assert parse_partition(partitions_def.get_partition_key_from_str(str(multi))) == from_str
    assert from_str.multi_key() == multi


@pytest.mark.parametrize(
    "bad",
    [
        "ks-county-20045",
        "ks-county-20045|2026-02-30",
        "KS|2026-11-01",
        "ks-county-20045|11/01/2026",
        42,
    ],
)
def test_bad_partition_keys_are_refused(bad: Any) -> None:
    from kfm_gate.orchestration.partitions import parse_partition

    with pytest.raises(PartitionKeyError):
        parse_partition(bad)


def test_multipartitionkey_with_wrong_dimensions_is_refused() -> None:
    import dagster as dg

    from kfm_gate.orchestration.partitions import parse_partition

    with pytest.raises(PartitionKeyError, match="dimensions"):
        parse_partition(dg.MultiPartitionKey({"county": "ks-county-20045", "date": "2026-11-01"}))


def test_asset_gets_the_partition_right_when_dagster_hands_a_plain_string(
    runner: Any, repo: Path
) -> None:
    """``execute_in_process`` with a ``str`` key (as ``dagster job execute`` passes it)."""
    from kfm_gate.orchestration.assets import PROCESSED_KEY

    job = runner.defs.resolve_job_def("kfm_historic_sites_partition")
    result = job.execute_in_process(
        partition_key=f"{ALLOW_AOI}|{DAYS[0]}",
        instance=runner.instance,
        asset_selection=[PROCESSED_KEY],
        run_config=runner.run_config,
    )
    assert result.success
    assert (
        repo / "data/processed/survey/historic_sites" / ALLOW_AOI / DAYS[0] / "request.json"
    ).is_file()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"engine": "wasm"}, "engine 'wasm' is unknown"),
        ({"engine": "server"}, "not an http"),
        ({"engine": "server", "opa_url": "ftp://x"}, "not an http"),
        ({"opa_url": "http://127.0.0.1:8181"}, "engine is 'embedded'"),
        ({"policy_dir": "nowhere"}, "holds no Rego"),
        ({"key_source": "vault"}, "key_source 'vault' is unknown"),
        ({"key_source": "file:{root}/mask.key"}, "inside the repository"),
        ({"as_of": "2026-13-01"}, "not a YYYY-MM-DD"),
    ],
)
def test_resource_fails_fast_on_bad_settings(
    repo: Path, settings: dict[str, str], message: str
) -> None:
    from kfm_gate.orchestration.pipeline import build_definitions
    from kfm_gate.orchestration.resources import KfmGateResource

    settings = {k: v.format(root=repo) for k, v in settings.items()}
    resource = KfmGateResource(root=str(repo), **settings)
    with pytest.raises(ConfigError, match=message):
        build_definitions(repo, resource=resource)


def test_resource_needs_the_env_key_when_told_so(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kfm_gate.orchestration.resources import KfmGateResource

    monkeypatch.delenv("KFM_MASK_KEY", raising=False)
    with pytest.raises(ConfigError, match="KFM_MASK_KEY is not set"):
        KfmGateResource(root=str(repo), key_source="env").resolve()


def test_resource_reuses_one_gate_and_rebuilds_it_when_a_policy_changes(repo: Path) -> None:
    from kfm_gate.orchestration.resources import KfmGateResource

    res = KfmGateResource(root=str(repo))
    gate = res.gate()
    assert KfmGateResource(root=str(repo)).gate() is gate
    data = repo / "policies/data/orchestration_test.json"
    data.write_text(data.read_text().replace("]", ', "ks-county-20001"]'))
    assert KfmGateResource(root=str(repo)).gate() is not gate


def test_survey_is_deterministic_and_matches_the_committed_files(tmp_path: Path) -> None:
    from kfm_gate.orchestration.survey import survey_files

    expected = survey_files(REPO)
    for path, data in expected.items():
        assert path.read_bytes() == data, f"{path} differs: run kfm-gate demo-data"
    assert sum(len(d) for d in expected.values()) < 2_000_000
    again = survey_files(REPO)
    assert again == expected


def test_survey_holds_what_the_gate_must_catch() -> None:
    import csv
    import io

    from kfm_gate.orchestration.survey import CONDITIONS, SITE_TYPES, survey_files

    rows = [
        r
        for p, d in survey_files(REPO).items()
        if p.suffix == ".csv"
        for r in csv.DictReader(io.StringIO(d.decode()))
    ]
    assert len({r["county_geoid"] for r in rows}) == 105
    assert any("@example.org" in r["recorder_contact"] for r in rows)
    assert any("555-01" in r["notes"] for r in rows)
    assert any(r["condition"] not in CONDITIONS for r in rows)
    assert any(r["site_type"] not in SITE_TYPES for r in rows)
    assert any(int(r["period_end"]) < int(r["period_start"]) for r in rows)
    assert all(r["site_id"] for r in rows) and len({r["site_id"] for r in rows}) == len(rows)


def test_commands_module_does_not_import_dagster() -> None:
    code = (
        "import sys, argparse\n"
        "import kfm_gate.orchestration.commands as c\n"
        "p = argparse.ArgumentParser(); c.add_commands(p.add_subparsers())\n"
        "a = p.parse_args(['demo', '--all', '--aoi', 'ks-county-20045', '--days', '2026-11-01'])\n"
        "assert a.all and a.aoi == ['ks-county-20045'] and a.days == ['2026-11-01']\n"
        "assert 'dagster' not in sys.modules, 'dagster imported at CLI start'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_definitions_module_loads_for_dagster_dev(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import dagster as dg

    monkeypatch.setenv("KFM_GATE_ROOT", str(repo))
    import kfm_gate.orchestration.definitions as mod

    mod = importlib.reload(mod)
    assert isinstance(mod.defs, dg.Definitions)
    graph = mod.defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "kfm/processed/historic_sites",
        "kfm/published/historic_sites",
        "kfm/catalog/stac_item",
        "kfm/catalog/dcat",
        "kfm/graph/historic_sites",
        "kfm/raw/ks_survey_ne",
    } <= keys
    (check,) = [c for c in graph.asset_check_keys if c.name == "kfm_gate"]
    spec = graph.get_check_spec(check)
    assert spec.blocking and spec.partitions_def is not None
