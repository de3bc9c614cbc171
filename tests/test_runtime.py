"""The default gate assembly: the catalog footprint of the published files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kfm_gate.runtime import published_geometry


def _collection(path: Path, geometries: list[dict[str, object] | None]) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_footprint_is_the_bbox_of_points_and_other_geometries(tmp_path: Path) -> None:
    points = _collection(
        tmp_path / "a.geojson",
        [
            {"type": "Point", "coordinates": [-97.5, 38.25]},
            {"type": "Point", "coordinates": [-99, 37, 410.0]},  # an elevation is ignored
            None,  # a suppressed feature
        ],
    )
    polygons = _collection(
        tmp_path / "b.geojson",
        [
            {
                "type": "Polygon",
                "coordinates": [[[-98.0, 39.0], [-96.5, 39.0], [-96.5, 39.5], [-98.0, 39.0]]],
            }
        ],
    )
    assert published_geometry([points, polygons]) == {
        "type": "Polygon",
        "coordinates": [
            [[-99.0, 37.0], [-96.5, 37.0], [-96.5, 39.5], [-99.0, 39.5], [-99.0, 37.0]]
        ],
    }
    single = _collection(tmp_path / "c.geojson", [{"type": "Point", "coordinates": [-97, 38]}])
    assert published_geometry([single]) == {"type": "Point", "coordinates": [-97.0, 38.0]}
    assert published_geometry([_collection(tmp_path / "d.geojson", [None])]) is None


# -- explicit settings and missing context (issue #12, items 7 and 9) ----------------------------


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"opa_timeout": 3}, "'opa_timeout' is not an option"),
        ({"engine": "embeded"}, "engine 'embeded' is unknown"),
        ({"engine": "opa"}, "needs opa_url"),
        ({"engine": "opa", "opa_url": "http://h:1", "opa_timeout_s": "5"}, "not a positive number"),
        ({"engine": "opa", "opa_url": "http://h:1", "opa_timeout_s": 0}, "not a positive number"),
        ({"geo.invalid_geometry": "fix"}, "geo.invalid_geometry 'fix' is unknown"),
        ({"max_file_bytes": "1GB"}, "max_file_bytes '1GB' is not a positive integer"),
    ],
)
def test_wrong_gate_options_are_errors(
    tmp_path: Path, options: dict[str, object], fragment: str
) -> None:
    from kfm_gate.errors import ConfigError
    from kfm_gate.runtime import build_default_gate
    from tests.helpers import scratch_repo

    root = scratch_repo(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        build_default_gate(root, options=options)


def test_a_repository_without_registries_is_an_error_not_a_skip(tmp_path: Path) -> None:
    """Without data/aoi every geo check was skipped and an in-zone site was allowed."""
    import datetime as dt
    import shutil

    from kfm_gate.runtime import build_default_gate
    from tests.helpers import dump, make_request, scratch_repo

    root = scratch_repo(tmp_path)
    shutil.rmtree(root / "data/aoi")
    gate = build_default_gate(root, as_of=dt.date(2026, 11, 3), record=False)
    try:
        run = gate.evaluate(dump(make_request(root)))
    finally:
        gate.close()
    assert run.decision.outcome == "error"
    assert "no AOI registry" in (run.decision.error or "")
    assert run.decision.reason_codes == ("GATE_CONFIG_INVALID",)
