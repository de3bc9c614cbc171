"""The Dagster resource refuses a repository the gate could not decide in (issue #12, item 9),
when the definitions load: ``dagster definitions validate`` fails with the fix."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kfm_gate.errors import ConfigError
from tests.helpers import REPO


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "policies", root / "policies")
    shutil.copytree(REPO / "data" / "aoi", root / "data" / "aoi")
    return root


def _resolve(root: Path, **settings: str) -> None:
    from kfm_gate.orchestration.resources import KfmGateResource

    KfmGateResource(root=str(root), **settings).resolve()


def test_a_complete_repository_resolves(root: Path) -> None:
    _resolve(root)


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda r: shutil.rmtree(r / "data/aoi"), "no aoi_registry.geojson or zone_registry"),
        (lambda r: (r / "data/aoi/zone_registry.geojson").unlink(), "no zone_registry.geojson"),
        (lambda r: shutil.rmtree(r / "policies/quality"), "has no quality/ folder"),
        (lambda r: (r / "policies/data/geo.json").unlink(), "lacks data section(s) geo"),
        (
            lambda r: (r / "policies/waivers/x.yml").write_text(
                "id: x-1\nscope: {asset: '*', rules: [flags.unknown]}\nreason: because we can\n"
                "approver: fair-care-council\ncreated: 2026-11-01\nexpires: 2026-12-31\n"
            ),
            "may not be waived",
        ),
    ],
)
def test_missing_context_is_refused_at_load(
    root: Path, damage: Callable[[Path], object], fragment: str
) -> None:
    damage(root)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        _resolve(root)


def test_named_key_file_and_worker_switch(
    root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="does not exist: a named key file is never created"):
        _resolve(root, key_source=f"file:{tmp_path / 'nokey'}")
    monkeypatch.delenv("KFM_MASK_KEY", raising=False)
    monkeypatch.setenv("KFM_MASK_KEY_FILE", str(tmp_path / "nokey"))
    with pytest.raises(ConfigError, match="never created"):
        _resolve(root)
    monkeypatch.setenv("KFM_MASK_KEY", "k" * 40)
    monkeypatch.setenv("KFM_QUALITY_WORKER", "maybe")
    with pytest.raises(ConfigError, match="neither on nor off"):
        _resolve(root)


def test_definitions_refuse_a_repository_without_registries(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kfm_gate.orchestration.pipeline import build_definitions

    shutil.copytree(REPO / "data" / "sources", root / "data" / "sources")
    shutil.rmtree(root / "data/aoi")
    with pytest.raises(ConfigError, match=re.escape("python -m kfm_gate.geo.build_registry")):
        build_definitions(root)
