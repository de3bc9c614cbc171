"""Fixtures of the geo tests: the shipped registries, a key, a scratch partition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.geo.keys import MaskKey
from kfm_gate.geo.registry import Registries, load_registries

REPO = Path(__file__).resolve().parents[2]
TEST_KEY = MaskKey(b"test-only-masking-key-0123456789abcdef", source="env")


@pytest.fixture(scope="session")
def registries() -> Registries:
    return load_registries(REPO / "data" / "aoi")


@pytest.fixture
def key() -> MaskKey:
    return TEST_KEY


@pytest.fixture
def isolated_key_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No KFM_MASK_KEY, no KFM_MASK_KEY_FILE, a scratch home: the default key file (the only
    one ever created) is ``<scratch home>/.config/kfm-gate/mask.key``."""
    monkeypatch.delenv("KFM_MASK_KEY", raising=False)
    monkeypatch.delenv("KFM_MASK_KEY_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield tmp_path / "home" / ".config" / "kfm-gate" / "mask.key"


def feature_collection(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", **extra, "features": features}


def point(fid: str, lon: float, lat: float, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": fid,
        "properties": dict(props),
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
