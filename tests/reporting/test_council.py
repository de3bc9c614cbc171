"""The council report: content, what it must never show, the map, determinism, the command."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from kfm_gate.errors import InputError, KfmGateError
from kfm_gate.geo import load_registries
from kfm_gate.reporting.commands import add_commands
from kfm_gate.reporting.council import (
    MapFrame,
    build_map_svg,
    load_record,
    render_run_report,
)
from kfm_gate.reporting.decision import explain_parts, rule_titles
from kfm_gate.runs import RecordedRun
from tests.reporting.conftest import DOUGLAS_SACRED, PII_VALUES, SEDGWICK_POINTS, Runs

_CIRCLE = re.compile(r'<circle class="feature" cx="(-?\d+)" cy="(-?\d+)" r="\d+"/>')


def _cli(root: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=".")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--root", str(root), "report", *argv])
    try:
        code: int = args.func(args)
    except KfmGateError:
        return 2
    return code


def _report(runs: Runs, name: str) -> str:
    return render_run_report(runs.root, runs.folder(name), runs.root / "policies")


def _renderings(value: float) -> set[str]:
    """A coordinate written at 4 or more decimals, rounded or truncated, with or without sign."""
    out = set()
    for places in range(4, 9):
        rounded = f"{abs(value):.{places}f}"
        truncated = f"{math.trunc(abs(value) * 10**places) / 10**places:.{places}f}"
        out |= {rounded, truncated}
    return out


def _assert_nothing_sensitive(page: str, points: list[tuple[float, float]]) -> None:
    for lon, lat in points:
        for text in _renderings(lon) | _renderings(lat):
            assert text not in page, f"raw coordinate {text} in the report"
    for value in PII_VALUES:
        assert value.lower() not in page.lower(), f"raw PII {value!r} in the report"
    assert "555-0142" not in page and "jane.roe" not in page.lower()


def _svg_of(page: str) -> str:
    match = re.search(r"<svg .*?</svg>", page, re.DOTALL)
    assert match, "no map in the page"
    return match.group(0)


def test_fixture_runs_have_the_expected_outcomes(runs: Runs) -> None:
    outcomes = {name: load_record(runs.folder(name)).decision.outcome for name in runs.ids}
    assert outcomes == {
        "allow": "allow",
        "deny": "deny",
        "quarantine": "quarantine",
        "error": "error",
    }
    # the raw candidates stay on disk next to the public view: the report must ignore them
    raw = json.loads(runs.candidates["sedgwick"].read_text())
    assert raw["features"][0]["geometry"]["coordinates"] == list(SEDGWICK_POINTS[0])
    assert PII_VALUES[2] in runs.candidates["sedgwick"].read_text()


@pytest.mark.parametrize("name", ["allow", "deny", "quarantine", "error"])
def test_no_raw_coordinate_or_pii_in_any_report(runs: Runs, name: str) -> None:
    page = _report(runs, name)
    _assert_nothing_sensitive(page, [*SEDGWICK_POINTS, DOUGLAS_SACRED])


def test_allow_report_says_why_and_draws_exactly_the_public_view(runs: Runs) -> None:
    page = _report(runs, "allow")
    record = load_record(runs.folder("allow"))
    assert "ALLOW - the partition may be promoted" in page
    assert "Every rule of the policy set passed." in page
    assert "GENERALIZE_GEOMETRY (generalize)" in page and "applied to the public view" in page
    assert "ZONE_GEOMETRY_SCHEMATIC" in page  # the warning, in plain words with its code
    assert "features_published = 5" in page  # an evidence figure
    registries = load_registries(runs.root / "data" / "aoi")
    frame = MapFrame.around(registries.aoi.get("ks-county-20173").geometry.bounds)
    drawn = {(int(x), int(y)) for x, y in _CIRCLE.findall(page)}
    public = sorted(
        (runs.root / "data/processed/survey/historic_sites/ks-county-20173/2026-11-02/public").glob(
            "*/sites.geojson"
        )
    )
    assert len(public) == 1
    published = json.loads(public[0].read_text())["features"]
    assert drawn == {frame.project(*f["geometry"]["coordinates"]) for f in published}
    # the sensitive feature is drawn where it was published, not where it is
    raw_px = frame.project(*SEDGWICK_POINTS[0])
    disp = record.evidence_doc["sections"]["geo"]["data"]["displacement_m"]["min"]
    assert disp > 0
    nearest = min(math.dist(raw_px, p) for p in drawn)
    assert nearest >= disp / frame.metres_per_pixel - 1.5


@pytest.mark.parametrize("name", ["deny", "quarantine"])
def test_blocked_runs_draw_no_feature_and_say_so(runs: Runs, name: str) -> None:
    page = _report(runs, name)
    svg = _svg_of(page)
    assert '<circle class="feature"' not in svg and "feature-" not in svg
    assert f"No features drawn: the outcome is {name.upper()} and nothing was published." in svg
    assert "The candidate holds raw coordinates and is never drawn." in svg
    assert "Nothing was published." in page


def test_deny_report_gives_the_reasons_in_plain_language(runs: Runs) -> None:
    page = _report(runs, "deny")
    assert "code_ref (the git SHA of the producing code) is missing" in page
    assert "POLICY_INPUT_INCOMPLETE" in page
    titles = rule_titles(runs.root / "policies")
    record = load_record(runs.folder("deny"))
    parts = explain_parts(record.decision, record.evidence_doc, titles)
    assert [p.key for p in parts][:1] == ["why"]
    for point in parts[0].points:  # every reason of explain, in the page (HTML-escaped)
        assert point.text.replace('"', "&quot;") in page


def test_error_report_has_no_map_and_says_why(runs: Runs) -> None:
    page = _report(runs, "error")
    assert "ERROR - the gate could not decide" in page
    assert "<svg" not in page
    assert "No map: the request was rejected" in page


def test_map_outlines_zones_and_generalizes_sensitive_sites(runs: Runs) -> None:
    registries = load_registries(runs.root / "data" / "aoi")
    record = load_record(runs.folder("quarantine"))
    svg, legend, caption = build_map_svg(runs.root, record, registries)
    assert any("zone-demo-site-a" in item and "outline is not shown" in item for item in legend)
    site = registries.zones.get("zone-demo-site-a").geometry
    frame = MapFrame.around(registries.aoi.get("ks-county-20045").geometry.bounds)
    drawn = re.search(r'<path class="site" d="([^"]+)"/>', svg)
    assert drawn
    xs = [int(v) for v in re.findall(r"(-?\d+),-?\d+", drawn.group(1))]
    w, s, e, _ = site.bounds
    site_px = frame.project(e, s)[0] - frame.project(w, s)[0]
    cell_px = 0.05 * frame.kx * frame.scale
    assert max(xs) - min(xs) >= cell_px - 1 > site_px  # a whole grid cell, bigger than the site
    assert "1 pixel" in caption and "rounded to whole pixels" in caption
    # every coordinate in the drawing is a whole pixel
    for d in re.findall(r' d="([^"]+)"', svg):
        assert re.fullmatch(r"[MLHVZ0-9, \-]+", d), d
    for value in re.findall(r' (?:x|y|cx|cy|r|width|height)="([^"]+)"', svg):
        assert re.fullmatch(r"-?\d+", value), value

    # a tribal area is outlined and labelled schematic
    class _Jackson(RecordedRun):  # the denied run, drawn as if it were of Jackson County
        @property
        def partition(self) -> dict[str, str]:
            return {"aoi_key": "ks-county-20085", "time_key": "2026-11-03"}

    jackson = _Jackson(runs.folder("deny"))
    svg, legend, _ = build_map_svg(runs.root, jackson, registries)
    assert '<path class="zone"' in svg
    tribal = [item for item in legend if "zone-aiannh-202980r" in item]
    assert tribal and "SCHEMATIC shape" in tribal[0] and "tribal area" in tribal[0]


def test_page_is_self_contained_and_deterministic(runs: Runs, tmp_path: Path) -> None:
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert _cli(runs.root, runs.ids["allow"], "--out", str(a)) == 0
    assert _cli(runs.root, runs.ids["allow"].replace(":", "_")[:22], "--out", str(b)) == 0
    assert a.read_bytes() == b.read_bytes()
    page = a.read_text()
    assert "<script" not in page.lower()
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(r.startswith("#") for r in refs), refs
    assert re.findall(r"https?://[^\"'\s<]+", page) == ["http://www.w3.org/2000/svg"]


def test_range_report_summarizes_every_run_in_range(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "range.html"
    assert _cli(runs.root, "--from", "2026-11-01", "--to", "2026-11-03", "--out", str(out)) == 0
    page = out.read_text()
    assert "3 run(s)" in page and "1 allow, 1 deny, 1 quarantine" in page
    for name in ("allow", "deny", "quarantine"):
        anchor = runs.ids[name].replace(":", "_")
        assert f'href="#{anchor}"' in page and f'<section id="{anchor}">' in page
    assert runs.ids["error"] not in page  # a rejected request has no partition day
    _assert_nothing_sensitive(page, [*SEDGWICK_POINTS, DOUGLAS_SACRED])
    # --aoi narrows, and the range is inclusive
    assert (
        _cli(
            runs.root,
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-02",
            "--aoi",
            "ks-county-20173",
            "--out",
            str(out),
        )
        == 0
    )
    page = out.read_text()
    assert "1 run(s)" in page and runs.ids["allow"] in page and runs.ids["deny"] not in page


def test_command_refuses_unusable_arguments(runs: Runs, tmp_path: Path) -> None:
    out = str(tmp_path / "x.html")
    assert _cli(runs.root, "--from", "2020-01-01", "--to", "2020-01-31", "--out", out) == 2
    assert _cli(runs.root, "--from", "2026-11-03", "--to", "2026-11-01", "--out", out) == 2
    assert _cli(runs.root, "--from", "2026-11-01", "--out", out) == 2
    assert _cli(runs.root, runs.ids["allow"], "--from", "2026-11-01", "--to", "2026-11-02") == 2
    assert _cli(runs.root, "--out", out) == 2
    assert _cli(runs.root, "run_nope", "--out", out) == 2
    assert not Path(out).exists()
    with pytest.raises(SystemExit):
        _cli(runs.root, "--from", "2026-13-01")


def test_no_runs_in_range_names_the_range(runs: Runs) -> None:
    import datetime as dt

    from kfm_gate.layout import Layout
    from kfm_gate.reporting.council import select_runs
    from kfm_gate.runs import RunStore

    store = RunStore(Layout(runs.root))
    assert select_runs(store, dt.date(2020, 1, 1), dt.date(2020, 1, 2)) == []
    with pytest.raises(InputError, match="before"):
        select_runs(store, dt.date(2020, 1, 2), dt.date(2020, 1, 1))
