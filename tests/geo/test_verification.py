"""The geo part of the gate end to end: context, policy (real OPA), masking, verification."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from kfm_gate.context import GateContext, ViewFile
from kfm_gate.geo.context import build_geo_context
from kfm_gate.geo.features import read_request_features
from kfm_gate.geo.masking import MaskingEngine
from kfm_gate.geo.registry import Registries
from kfm_gate.geo.verification import GeoVerificationCollector
from kfm_gate.models import (
    GovernanceFlags,
    InputRef,
    Obligation,
    OutputRef,
    Partition,
    PromotionRequest,
    join_flags,
)
from tests.geo.conftest import TEST_KEY, feature_collection, point, write_json

REPO = Path(__file__).resolve().parents[2]
AOI = "ks-county-20085"  # Jackson County: holds the schematic Prairie Band Potawatomi area
ZONE = "zone-aiannh-202980r"
REL = f"data/processed/sites/sites/{AOI}/2026-11-01/run1/sites.geojson"


def _policy_engine() -> Any:
    from opa_bindings import OpaEngine

    engine = OpaEngine()
    engine.add_policy("geo.rego", (REPO / "policies/kfm/gate/geo.rego").read_text())
    engine.add_data(
        json.loads((REPO / "policies/data/geo.json").read_text()), path="kfm.params.geo"
    )
    return engine


def _features(registries: Registries) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    zone = registries.zones.get(ZONE).geometry
    county = registries.aoi.get(AOI).geometry
    rng = np.random.default_rng(20)
    x0, y0, x1, y1 = zone.bounds
    lon, lat = rng.uniform(x0, x1, 400), rng.uniform(y0, y1, 400)
    keep = shapely.contains_xy(zone, lon, lat)
    inside = list(zip(lon[keep][:25].tolist(), lat[keep][:25].tolist(), strict=True))
    cx0, cy0, cx1, cy1 = county.bounds
    lon, lat = rng.uniform(cx0, cx1, 4000), rng.uniform(cy0, cy1, 4000)
    ok = shapely.contains_xy(county, lon, lat) & ~shapely.intersects_xy(
        registries.zones.get(ZONE).search_geometry, lon, lat
    )
    outside = list(zip(lon[ok][:40].tolist(), lat[ok][:40].tolist(), strict=True))
    feats = [point(f"site-in-{i}", x, y, name=f"in {i}") for i, (x, y) in enumerate(inside)]
    feats += [point(f"site-out-{i}", x, y, name=f"out {i}") for i, (x, y) in enumerate(outside)]
    feats.append(
        {
            "type": "Feature",
            "properties": {"feature_id": "trail-1"},
            "bbox": [-95.9, 39.3, -95.85, 39.31],
            "geometry": {
                "type": "LineString",
                "coordinates": [[-95.88, 39.30], [-95.87, 39.305], [-95.86, 39.31]],
            },
        }
    )
    return feats, inside


def _request(rel: str = REL, media: str = "application/geo+json") -> PromotionRequest:
    flags = GovernanceFlags(classification="public", sensitivity="public", licenses=("CC-BY-4.0",))
    return PromotionRequest(
        asset_key="kfm/sites/public",
        pipeline="sites",
        dataset="sites",
        partition=Partition(aoi_key=AOI, time_key="2026-11-01"),
        code_ref="0123abc",
        inputs=(InputRef(id="src-sites", sha256="sha256:" + "0" * 64, flags=flags),),
        outputs=(OutputRef(path=rel, media_type=media),),
    )


def run_geo(
    tmp_path: Path,
    registries: Registries,
    *,
    content: bytes,
    rel: str = REL,
    media: str = "application/geo+json",
    apply: bool = True,
) -> dict[str, Any]:
    """One candidate through the geo part of the gate: context, phase-1 policy (real OPA),
    masking, verification and the phase-2 geo rules."""
    candidate = tmp_path / rel
    candidate.parent.mkdir(parents=True, exist_ok=True)
    candidate.write_bytes(content)
    public = tmp_path / "mcp/runs/run1/staging" / rel
    public.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(candidate, public)
    request = _request(rel, media)
    vf = ViewFile(relpath=rel, candidate=candidate, public=public, media_type=media, role="data")
    fs = read_request_features([(vf.relpath, vf.candidate, vf.media_type)])
    geo, zone_flags = build_geo_context(request, fs, registries)
    flags = join_flags([request.inputs[0].flags.with_origin("input:src-sites"), *zone_flags])
    engine = _policy_engine()
    base = {
        "request": request.to_json_dict(),
        "flags": flags.to_json_dict(),
        "flags_missing": [],
        "geo": geo,
        "today": "2026-11-25",
    }
    raw_obs = engine.eval_query("x = data.kfm.gate.obligation", base)[0]["x"]
    obligations = tuple(Obligation(**o) for o in sorted(raw_obs, key=json.dumps))
    ctx = GateContext(
        request=request,
        root=tmp_path,
        run_id="run:kfm-gate:test",
        files=(vf,),
        flags=flags,
        geo=geo,
        obligations=obligations,
    )
    report = (
        MaskingEngine(registries, key_source=lambda: TEST_KEY).apply(ctx, obligations)
        if apply
        else {}
    )
    section = GeoVerificationCollector(registries).collect(ctx)
    evidence = {
        "geo": {
            "status": section.status,
            "collector": section.collector,
            "error": section.error,
            **section.data,
        }
    }
    phase2 = {**base, "obligations": [o.to_json_dict() for o in obligations], "evidence": evidence}
    violations = engine.eval_query("x = data.kfm.gate.violation", phase2)[0]["x"]
    warnings = engine.eval_query("x = data.kfm.gate.warning", phase2)[0]["x"]
    return {
        "geo": geo,
        "flags": flags,
        "obligations": obligations,
        "report": report,
        "section": section,
        "violations": violations,
        "warnings": warnings,
        "public": public,
        "tmp": tmp_path,
        "ctx": ctx,
        "engine": engine,
        "phase2": phase2,
    }


def _run(tmp_path: Path, registries: Registries, *, apply: bool = True) -> dict[str, Any]:
    feats, inside = _features(registries)
    content = json.dumps(feature_collection(feats)).encode("utf-8")
    return {**run_geo(tmp_path, registries, content=content, apply=apply), "inside": inside}


def test_zone_partition_is_generalized_and_verified(tmp_path: Path, registries: Registries) -> None:
    r = _run(tmp_path, registries)
    zones = {z["zone_id"]: z for z in r["geo"]["zones"]}
    assert zones[ZONE]["feature_count"] == 26  # 25 points and the trail
    assert r["flags"].indigenous_rights_flag
    assert f"zone:{ZONE}" in r["flags"].origins["indigenous_rights_flag"]
    rules = {o.rule for o in r["obligations"]}
    assert rules == {"geo.zone_generalize", "geo.flags_generalize"}
    assert all(o.params["r_min_m"] == 1000 for o in r["obligations"])  # tier "sensitive"
    data = r["section"].data
    assert data["features_in_zones"] == 26
    assert data["unchanged_in_zones"] == 0
    assert data["moved_less_than_r_min"] == 0
    assert data["containment_violations"] == 0
    assert data["geometry_mismatch"] == 0
    assert data["displacement_m"]["min"] >= 1000 and data["displacement_m"]["max"] <= 3000
    assert r["violations"] == []  # promoted: verification passes
    assert {w["rule"] for w in r["warnings"]} == {"geo.schematic_zone"}
    applied = r["report"]["applied"]
    assert applied and all(a["applied"] for a in applied)
    published = json.loads(r["public"].read_text())
    trail = next(f for f in published["features"] if f["properties"].get("feature_id") == "trail-1")
    assert trail["geometry"]["type"] == "LineString" and "bbox" not in trail
    assert trail["properties"]["kfm:privacy_method"] == "donut_geomask_v1"


def test_obligation_not_applied_denies(tmp_path: Path, registries: Registries) -> None:
    r = _run(tmp_path, registries, apply=False)
    rules = {v["rule"]: v for v in r["violations"]}
    assert rules["geo.unchanged_in_zones"]["severity"] == "critical"
    assert rules["geo.unchanged_in_zones"]["details"]["unchanged_in_zones"] == 26
    assert "geo.r_min" in rules


def test_tampered_public_view_denies(tmp_path: Path, registries: Registries) -> None:
    r = _run(tmp_path, registries)
    doc = json.loads(r["public"].read_text())
    x, y = r["inside"][0]
    doc["features"][0]["geometry"]["coordinates"] = [x + 0.001, y]  # ~90 m: below r_min
    doc["features"].append(point("not-in-candidate", -95.7, 39.4))
    r["public"].write_text(json.dumps(doc))
    ctx_section = GeoVerificationCollector(registries).collect(
        GateContext(
            request=_request(),
            root=tmp_path,
            run_id="run:kfm-gate:test",
            files=(ViewFile(REL, tmp_path / REL, r["public"], "application/geo+json", "data"),),
            flags=r["flags"],
            geo=r["geo"],
            obligations=r["obligations"],
        )
    )
    assert ctx_section.data["moved_less_than_r_min"] == 1
    assert ctx_section.data["unexpected_features"] == 1


def test_public_view_is_deterministic(tmp_path: Path, registries: Registries) -> None:
    a = _run(tmp_path / "a", registries)["public"].read_bytes()
    b = _run(tmp_path / "b", registries)["public"].read_bytes()
    assert a == b


def _formats(value: float) -> set[str]:
    return {repr(value), f"{value:.6f}", f"{value:.5f}", f"{value:.4f}"}


def test_no_written_file_holds_a_zone_coordinate_or_the_key(
    tmp_path: Path, registries: Registries
) -> None:
    r = _run(tmp_path, registries)
    out = tmp_path / "mcp/runs/run1"
    write_json(out / "evidence.json", {"geo": r["section"].to_json_dict()})
    write_json(out / "obligations_report.json", r["report"])
    write_json(out / "geo_context.json", r["geo"])
    write_json(out / "obligations.json", [o.to_json_dict() for o in r["obligations"]])
    write_json(out / "decision.json", {"violations": r["violations"], "warnings": r["warnings"]})
    needles = {TEST_KEY.secret.decode(), TEST_KEY.secret.hex()}
    for x, y in r["inside"]:
        needles |= _formats(x) | _formats(y)
    for x, y in ((-95.88, 39.30), (-95.87, 39.305), (-95.86, 39.31)):  # the trail's vertices
        needles |= {f"[{x!r},{y!r}]", f"[{x!r}, {y!r}]"}
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == 6
    for path in written:
        text = path.read_text(encoding="utf-8")
        found = sorted(n for n in needles if n in text)
        assert not found, f"{path.name} leaks {found[:3]}"


def test_sanity_scan_would_catch_a_leak(tmp_path: Path, registries: Registries) -> None:
    r = _run(tmp_path, registries, apply=False)
    x, _ = r["inside"][0]
    assert repr(x) in r["public"].read_text()  # unmasked public view: the scan's needle is real


def test_no_geojson_output_gives_skipped_section(tmp_path: Path, registries: Registries) -> None:
    csv = write_json(tmp_path / "data/processed/x.csv", {"a": 1})
    ctx = GateContext(
        request=_request(),
        root=tmp_path,
        run_id="run:kfm-gate:test",
        files=(ViewFile("data/processed/x.csv", csv, csv, "text/csv", "data"),),
        flags=None,
    )
    section = GeoVerificationCollector(registries).collect(ctx)
    assert section.status == "skipped"


@pytest.mark.parametrize("bad", ["nan", "second_crs", "no_id"])
def test_bad_candidate_fails_the_collector(
    tmp_path: Path, registries: Registries, bad: str
) -> None:
    from kfm_gate.errors import CollectorError, InputError

    f = point("a", -95.8, 39.3)
    doc: dict[str, Any] = feature_collection([f])
    if bad == "nan":
        f["geometry"]["coordinates"] = [float("nan"), 39.3]
    elif bad == "second_crs":
        doc["crs"] = {"type": "name", "properties": {"name": "EPSG:3857"}}
    else:
        del f["id"]
    path = tmp_path / REL
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    vf = ViewFile(REL, path, path, "application/geo+json", "data")
    with pytest.raises(InputError):
        read_request_features([(REL, path, vf.media_type)])
    ctx = GateContext(
        request=_request(), root=tmp_path, run_id="run:kfm-gate:test", files=(vf,), flags=None
    )
    with pytest.raises(CollectorError):
        GeoVerificationCollector(registries).collect(ctx)
