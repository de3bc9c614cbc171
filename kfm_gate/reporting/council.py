"""The council report: one self-contained HTML page per run, or per range of partition days.

It says, in the words of ``kfm-gate explain``, what the gate decided and why, the evidence
figures, the obligations and the waivers, and draws an SVG map of the AOI with

* the AOI outline (AOI registry);
* the sensitive zones whose search area touches the AOI (zone registry): tribal areas as their
  registry outline, labelled **schematic** when the registry says so; sensitive sites never by
  their outline but by the cells of a coarse grid that cover it (``site_cell_deg``);
* the features of the **published public view** only, and only for ``allow``. The candidate
  holds raw coordinates and is never read; for deny, quarantine and error the map says that
  nothing is drawn.

Coordinates are projected equirectangularly (longitude scaled by cos of the mid-latitude) and
rounded to whole pixels of the drawing; no longitude or latitude is written in the page. The
page has no script and no external asset, and the same records give the same bytes.

Shapely and the geo registries are imported when a map is drawn, not at import.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfm_gate.errors import InputError, KfmGateError, RecordError
from kfm_gate.layout import RUNS
from kfm_gate.models import Decision
from kfm_gate.reporting.decision import (
    Part,
    evidence_summaries,
    explain_parts,
    outcome_words,
    rule_titles,
)
from kfm_gate.runs import RecordedRun, RunStore

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from kfm_gate.geo.registry import Registries

__all__ = [
    "MapFrame",
    "build_map_svg",
    "load_record",
    "render_range_report",
    "render_run_report",
    "select_runs",
]

#: drawing width and maximum height, pixels
MAP_WIDTH = 640
MAP_MAX_HEIGHT = 560
_MARGIN = 12
_PAD = 0.04  # share of the AOI extent added around it
_M_PER_DEG_LAT = 111_320.0

_BANNER = {
    "allow": "The public view drawn below was published.",
    "deny": "Nothing was published. The reasons below must be fixed before the partition can "
    "be gated again.",
    "quarantine": "Nothing was published. The partition is held until the FAIR+CARE council "
    "has reviewed it.",
    "error": "Nothing was published. The gate could not reach a decision, and an error blocks "
    "like a denial (fail closed).",
}
_HEADINGS = {
    "error": "What went wrong",
    "why": "Why",
    "warnings": "Warnings",
    "obligations": "Obligations: what had to happen before publication",
    "waivers": "Waivers applied",
}


# -- records -----------------------------------------------------------------------------


def load_record(folder: Path) -> RecordedRun:
    """The record of one run folder (or attempt), its decision checked (InputError if not)."""
    record = RecordedRun(folder)
    try:
        record.decision  # noqa: B018 - schema and digest checked here
        record.evidence_doc  # noqa: B018
    except RecordError as err:
        raise InputError(f"run record {folder} cannot be read: {err}") from err
    return record


def _aoi(record: RecordedRun) -> str:
    return record.partition.get("aoi_key", "")


def _day(record: RecordedRun) -> str:
    return record.partition.get("time_key", "")


def _anchor(record: RecordedRun) -> str:
    return record.folder.name


def _request(record: RecordedRun) -> dict[str, Any] | None:
    return None if record.rejected else record.request_doc


def select_runs(
    store: RunStore, first: dt.date, last: dt.date, aoi: str | None = None
) -> list[RecordedRun]:
    """Runs whose partition day is in ``[first, last]`` (and of ``aoi``), sorted by day, AOI,
    asset and run id: each run's current decision, or its newest error when it has none.
    Rejected requests have no partition day and are never selected."""
    if last < first:
        raise InputError(f"--to {last} is before --from {first}")
    found = []
    for record in store.iter_runs():
        try:
            day = dt.date.fromisoformat(_day(record))
        except ValueError:
            continue
        if first <= day <= last and (aoi is None or _aoi(record) == aoi):
            found.append(load_record(record.folder))
    found.sort(key=lambda r: (_day(r), _aoi(r), r.decision.asset_key, r.decision.run_id))
    return found


# -- map ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapFrame:
    """Equirectangular projection of the AOI's extent onto a drawing of whole pixels."""

    west: float
    north: float
    kx: float  # cos(mid-latitude)
    scale: float  # pixels per degree of latitude
    width: int
    height: int

    @classmethod
    def around(cls, bounds: Sequence[float]) -> MapFrame:
        west, south, east, north = bounds
        kx = math.cos(math.radians((south + north) / 2))
        span_x = max((east - west) * kx, 1e-6)
        span_y = max(north - south, 1e-6)
        pad = _PAD * max(span_x, span_y)
        inner_w = MAP_WIDTH - 2 * _MARGIN
        scale = inner_w / (span_x + 2 * pad)
        if (span_y + 2 * pad) * scale > MAP_MAX_HEIGHT - 2 * _MARGIN:
            scale = (MAP_MAX_HEIGHT - 2 * _MARGIN) / (span_y + 2 * pad)
        width = MAP_WIDTH
        height = math.ceil((span_y + 2 * pad) * scale) + 2 * _MARGIN
        # centre the extent in the drawing
        off_x = (width - span_x * scale) / 2 / scale
        off_y = (height - span_y * scale) / 2 / scale
        return cls(west - off_x / kx, north + off_y, kx, scale, width, height)

    @property
    def metres_per_pixel(self) -> float:
        return _M_PER_DEG_LAT / self.scale

    def project(self, lon: float, lat: float) -> tuple[int, int]:
        """Whole-pixel position of a longitude/latitude (y grows downwards)."""
        return (
            round((lon - self.west) * self.kx * self.scale),
            round((self.north - lat) * self.scale),
        )

    def bounds(self) -> tuple[float, float, float, float]:
        """The drawing's extent as (west, south, east, north)."""
        east = self.west + self.width / self.scale / self.kx
        south = self.north - self.height / self.scale
        return self.west, south, east, self.north


def _rings(geom: BaseGeometry) -> Iterable[Sequence[tuple[float, ...]]]:
    kind = geom.geom_type
    if kind == "Polygon":
        yield geom.exterior.coords
        for ring in geom.interiors:
            yield ring.coords
    elif kind == "LineString" or kind == "LinearRing":
        yield geom.coords
    elif kind.startswith("Multi") or kind == "GeometryCollection":
        for sub in geom.geoms:
            yield from _rings(sub)


def _path(frame: MapFrame, geom: BaseGeometry, *, closed: bool) -> str:
    parts = []
    for coords in _rings(geom):
        pts: list[tuple[int, int]] = []
        for c in coords:
            p = frame.project(c[0], c[1])
            if not pts or pts[-1] != p:
                pts.append(p)
        if len(pts) < 2:
            continue
        body = " ".join(f"{x},{y}" for x, y in pts[1:])
        parts.append(f"M{pts[0][0]},{pts[0][1]} L{body}" + (" Z" if closed else ""))
    return " ".join(parts)


@dataclass
class _Layer:
    svg: list[str] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)


def _cover_cells(geom: BaseGeometry, cell: float) -> BaseGeometry:
    """The box of whole ``cell``-degree grid cells that covers ``geom`` (fixed origin 0, 0)."""
    from shapely.geometry import box

    w, s, e, n = geom.bounds
    return box(
        math.floor(w / cell) * cell,
        math.floor(s / cell) * cell,
        math.ceil(e / cell) * cell,
        math.ceil(n / cell) * cell,
    )


def _zone_layer(
    frame: MapFrame, aoi_geom: BaseGeometry, registries: Registries, site_cell_deg: float
) -> _Layer:
    import shapely

    layer = _Layer()
    view = frame.bounds()
    tol = 0.5 / frame.scale
    touching = [z for z in registries.zones.zones if z.search_geometry.intersects(aoi_geom)]
    placed: list[tuple[int, int]] = []
    for n, zone in enumerate(sorted(touching, key=lambda z: z.zone_id), start=1):
        site = zone.kind != "tribal_area"
        shape = _cover_cells(zone.geometry, site_cell_deg) if site else zone.geometry
        clipped = shapely.clip_by_rect(shape, *view).simplify(tol, preserve_topology=True)
        if clipped.is_empty:
            continue
        cls = "site" if site else "zone"
        layer.svg.append(f'<path class="{cls}" d="{_path(frame, clipped, closed=True)}"/>')
        lx, ly = _free_spot(frame.project(*_label_point(clipped)), placed, frame)
        placed.append((lx, ly))
        layer.svg.append(
            f'<circle class="zone-key" cx="{lx}" cy="{ly}" r="9"/>'
            f'<text class="zone-key" x="{lx}" y="{ly + 4}">{n}</text>'
        )
        what = "sensitive site" if site else "tribal area"
        notes = [f"{what}, masking tier {zone.masking_tier}"]
        if zone.authority:
            notes.append("authority: " + ", ".join(zone.authority))
        if site:
            notes.append(
                f"drawn as the {site_cell_deg:g}\N{DEGREE SIGN} grid cells that cover it; "
                "its outline is not shown"
            )
        elif zone.schematic:
            notes.append("SCHEMATIC shape from the registry, not the real boundary")
        if zone.demo:
            notes.append("invented for the demo")
        layer.legend.append(
            f"<li><b>{n}</b> {_e(zone.name)} <code>{_e(zone.zone_id)}</code>: "
            f"{_e('; '.join(notes))}</li>"
        )
    return layer


def _free_spot(
    spot: tuple[int, int], placed: list[tuple[int, int]], frame: MapFrame
) -> tuple[int, int]:
    """The label position nearest ``spot``, on a ring of 22 px steps, that overlaps no label."""
    x0, y0 = spot
    for ring in range(12):
        steps = max(1, 6 * ring)
        for k in range(steps):
            angle = 2 * math.pi * k / steps + math.pi / 2
            x = min(max(round(x0 + 22 * ring * math.cos(angle)), 10), frame.width - 10)
            y = min(max(round(y0 + 22 * ring * math.sin(angle)), 10), frame.height - 10)
            if all(math.dist((x, y), q) >= 20 for q in placed):
                return x, y
    return x0, y0


def _label_point(geom: BaseGeometry) -> tuple[float, float]:
    point = geom.representative_point()
    return float(point.x), float(point.y)


def _public_files(record: RecordedRun) -> list[Path]:
    """The recorded public view of an allowed run (the bytes the publisher publishes)."""
    view = record.public_view
    if view is None:
        return []
    out = []
    for f in view.files:
        if Path(f.name).suffix not in (".geojson", ".json"):
            continue
        try:
            out.append(record.public_file(f))
        except RecordError:
            continue  # changed since the decision: not what was published, not drawn
    return out


def _feature_layer(frame: MapFrame, record: RecordedRun) -> tuple[_Layer, str]:
    """The published features (allow only) and the sentence the map shows about them."""
    from shapely.geometry import shape

    layer = _Layer()
    outcome = record.decision.outcome
    if outcome != "allow":
        return layer, (
            f"No features drawn: the outcome is {outcome.upper()} and nothing was published. "
            "The candidate holds raw coordinates and is never drawn."
        )
    files = _public_files(record)
    if not files:
        return layer, "No features drawn: the recorded public view is not on disk."
    count, unreadable = 0, 0
    for path in files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            feats = doc.get("features", []) if isinstance(doc, dict) else []
        except (OSError, ValueError):
            unreadable += 1
            continue
        for feat in feats:
            geom_doc = feat.get("geometry") if isinstance(feat, dict) else None
            if not geom_doc:
                continue
            try:
                geom = shape(geom_doc)
            except (ValueError, TypeError, AttributeError, KeyError, IndexError):
                unreadable += 1
                continue
            count += 1
            if geom.geom_type in ("Point", "MultiPoint"):
                points = geom.geoms if geom.geom_type == "MultiPoint" else [geom]
                for pt in points:
                    x, y = frame.project(pt.x, pt.y)
                    layer.svg.append(f'<circle class="feature" cx="{x}" cy="{y}" r="5"/>')
            else:
                closed = "Polygon" in geom.geom_type
                layer.svg.append(
                    f'<path class="feature{"-area" if closed else "-line"}" '
                    f'd="{_path(frame, geom, closed=closed)}"/>'
                )
    sentence = f"{count} published feature(s) drawn, as published (after masking)."
    if unreadable:
        sentence += f" {unreadable} file(s) or feature(s) of the public view could not be read."
    return layer, sentence


def _scale_bar(frame: MapFrame) -> str:
    target_m = frame.metres_per_pixel * frame.width / 5
    step = 10 ** math.floor(math.log10(target_m))
    length_m = max(m * step for m in (1, 2, 5) if m * step <= target_m)
    px = round(length_m / frame.metres_per_pixel)
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    x0, y0 = _MARGIN + 4, frame.height - _MARGIN - 6
    return (
        f'<g class="scale"><path d="M{x0},{y0 - 5} V{y0} H{x0 + px} V{y0 - 5}"/>'
        f'<text x="{x0 + px + 6}" y="{y0}">{label}</text></g>'
    )


def build_map_svg(
    root: Path,
    record: RecordedRun,
    registries: Registries,
    *,
    site_cell_deg: float = 0.05,
) -> tuple[str, list[str], str]:
    """``(svg, legend items, caption)`` of the run's AOI map.

    Raises :class:`~kfm_gate.errors.PartitionKeyError` when the AOI is not in the registry.
    """
    import shapely

    aoi = registries.aoi.get(_aoi(record))
    frame = MapFrame.around(aoi.geometry.bounds)
    tol = 0.5 / frame.scale
    aoi_d = _path(frame, shapely.simplify(aoi.geometry, tol, preserve_topology=True), closed=True)
    zones = _zone_layer(frame, aoi.geometry, registries, site_cell_deg)
    feats, sentence = _feature_layer(frame, record)
    lines = [f"{s}." if not s.endswith(".") else s for s in sentence.split(". ") if s]
    band = 8 + 16 * len(lines)
    w, h = frame.width, frame.height + band
    clip = f"clip-{_anchor(record)}"
    notes = "".join(
        f'<text class="note" x="{_MARGIN}" y="{18 + 16 * i}">{_e(line)}</text>'
        for i, line in enumerate(lines)
    )
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{_e(_map_label(record, aoi.aoi.name))}">',
        f'<defs><clipPath id="{clip}"><rect width="{w}" height="{frame.height}"/></clipPath>'
        "</defs>",
        f'<rect class="band" width="{w}" height="{band}"/>{notes}',
        f'<g transform="translate(0,{band})">',
        f'<rect class="sea" width="{w}" height="{frame.height}"/>',
        f'<g clip-path="url(#{clip})">',
        f'<path class="aoi" d="{aoi_d}"/>',
        *zones.svg,
        *feats.svg,
        "</g>",
        _scale_bar(frame),
        f'<text class="north" x="{w - _MARGIN - 22}" y="{_MARGIN + 12}">N \N{UPWARDS ARROW}</text>',
        "</g>",
        "</svg>",
    ]
    caption = (
        f"{_e(aoi.aoi.name)} ({_e(aoi.aoi_id)}, {_e(aoi.aoi.kind)}). {_e(sentence)}"
        f"{_e(_geo_counts(record.evidence_doc))} "
        f"Equirectangular drawing, 1 pixel \N{ALMOST EQUAL TO} {frame.metres_per_pixel:,.0f} m; "
        "positions are rounded to whole pixels."
    )
    return "\n".join(svg), zones.legend, caption


def _geo_counts(evidence: dict[str, Any]) -> str:
    """What the geo evidence counted (counts only), as a sentence; empty without it."""
    geo = evidence.get("sections", {}).get("geo", {})
    data = geo.get("data") if isinstance(geo, dict) else None
    if not isinstance(data, dict) or "features_total" not in data:
        return ""
    return (
        f" The geo evidence counted {data.get('features_total')} feature(s) in the candidate, "
        f"{data.get('features_published')} in the public view, "
        f"{data.get('features_in_zones')} inside sensitive zones."
    )


def _map_label(record: RecordedRun, name: str) -> str:
    return f"Map of {name} ({_aoi(record)}) on {_day(record)}"


# -- HTML --------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 color:#1d232a;margin:0;background:#f4f5f7}
main{max-width:1040px;margin:0 auto;padding:20px 28px 40px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:20px;margin:28px 0 8px;
 border-bottom:2px solid #d8dde3;padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}
.sub{color:#4a5561;margin:0 0 12px}code{font:13px ui-monospace,"DejaVu Sans Mono",monospace;
 background:#eef1f4;padding:0 3px;border-radius:3px;overflow-wrap:anywhere}
.banner{border-radius:6px;padding:12px 16px;margin:12px 0;border-left:8px solid}
.banner strong{font-size:19px;display:block}
.allow{background:#e6f4ea;border-color:#1e7b34}.deny{background:#fdecea;border-color:#b3261e}
.quarantine{background:#fff4e0;border-color:#b36b00}.error{background:#ecebf5;border-color:#4f3f8f}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-weight:600;font-size:13px}
.pill.allow{color:#1e7b34}.pill.deny{color:#b3261e}.pill.quarantine{color:#8a5200}
.pill.error{color:#4f3f8f}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:14px}
th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}table.facts th{width:170px}
ul.points>li{margin:0 0 8px}.note-line{color:#4a5561;font-size:13px}
.figs{color:#2c3640;font-size:13px}
figure{margin:10px 0}figcaption{color:#4a5561;font-size:13px;margin-top:4px}
svg.map{max-width:100%;height:auto;border:1px solid #c5ccd3;background:#fff}
svg .sea{fill:#f7f8fa}svg .band{fill:#eef1f4}svg .aoi{fill:#fbf6e9;stroke:#3d4650;stroke-width:1.6}
svg .zone{fill:#c0392b;fill-opacity:.10;stroke:#c0392b;stroke-width:1.6;stroke-dasharray:7 4}
svg .site{fill:#8e44ad;fill-opacity:.12;stroke:#8e44ad;stroke-width:1.6;stroke-dasharray:2 3}
svg circle.zone-key{fill:#fff;stroke:#7a2a20;stroke-width:1.4}
svg text.zone-key{font:bold 12px sans-serif;text-anchor:middle;fill:#7a2a20}
svg .feature{fill:#1f5fbf;stroke:#fff;stroke-width:1.2}
svg .feature-area{fill:#1f5fbf;fill-opacity:.35;stroke:#1f5fbf}
svg .feature-line{fill:none;stroke:#1f5fbf;stroke-width:2}
svg .scale path{fill:none;stroke:#1d232a;stroke-width:1.5}
svg text{font:12px sans-serif;fill:#1d232a}svg text.note{font-weight:600}
svg text.north{font-weight:700}
.key span{display:inline-block;margin-right:18px}
.sw{display:inline-block;width:18px;height:11px;vertical-align:-1px;margin-right:5px;
 border:1.6px solid}
footer{margin-top:30px;color:#5b6672;font-size:12px}
@media print{body{background:#fff}main{padding:0}}
"""


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body><main>",
            *body,
            "<footer>Generated by kfm-gate from the run records under <code>mcp/runs/</code>. "
            "Rule titles come from the policy folder at the time of the report. The page "
            "holds no raw sensitive value: evidence figures are counts, types and scores, and "
            "the map draws only what was published.</footer>",
            "</main></body>",
            "</html>",
            "",
        ]
    )


def _aoi_name(registries: Registries | None, aoi_id: str) -> str:
    if registries is None or not aoi_id:
        return aoi_id or "unknown AOI"
    entry = registries.aoi.entries.get(aoi_id)
    return f"{entry.aoi.name} ({aoi_id})" if entry else aoi_id


def _flat_figures(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Scalar figures and, one level down, scalar members of objects (e.g. displacement_m)."""
    out: list[tuple[str, str]] = []
    for key, value in sorted(data.items()):
        if isinstance(value, bool | int | float | str) or value is None:
            if value is not None:
                out.append((key, _fmt(value)))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            out.append((key, ", ".join(value) if len(value) <= 6 else f"{len(value)} listed"))
        elif isinstance(value, dict):
            for sub, inner in sorted(value.items()):
                if isinstance(inner, bool | int | float | str):
                    out.append((f"{key}.{sub}", _fmt(inner)))
    return out


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _evidence_table(evidence: dict[str, Any]) -> list[str]:
    rows = evidence_summaries(evidence)
    if not rows:
        return ["<p>No evidence was collected.</p>"]
    out = [
        "<table><thead><tr><th>Evidence</th><th>Collected by</th><th>Status</th>"
        "<th>Figures</th></tr></thead><tbody>"
    ]
    sections = evidence.get("sections", {})
    for name, collector, status, _summary in rows:
        sec = sections.get(name, {})
        figs = _flat_figures(sec.get("data", {}) or {})
        err = sec.get("error")
        text = ", ".join(f"{k} = {v}" for k, v in figs)
        if err:
            text = f"error: {err}" + (f"; {text}" if text else "")
        out.append(
            f"<tr><td>{_e(name)}</td><td>{_e(collector)}</td><td>{_e(status)}</td>"
            f'<td class="figs">{_e(text) or "&#8212;"}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _applied(evidence: dict[str, Any]) -> dict[str, bool]:
    """``{obligation code: applied}`` from the gate's obligations evidence."""
    sec = evidence.get("sections", {}).get("obligations", {})
    data = sec.get("data") if isinstance(sec, dict) else None
    rows = data.get("applied", []) if isinstance(data, dict) else []
    found: dict[str, bool] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and isinstance(row.get("code"), str):
            found[row["code"]] = found.get(row["code"], True) and bool(row.get("applied"))
    return found


def _parts_html(parts: list[Part], decision: Decision, evidence: dict[str, Any]) -> list[str]:
    applied = _applied(evidence)
    out: list[str] = []
    for part in parts:
        if part.key == "evidence":
            continue
        if not part.points:
            text = part.heading.removeprefix("Why: ")
            out.append(f"<h3>Why</h3><p>{_e(text[:1].upper() + text[1:])}</p>")
            continue
        out.append(f"<h3>{_e(_HEADINGS.get(part.key, part.heading.rstrip(':')))}</h3>")
        out.append('<ul class="points">')
        codes = [o.code for o in decision.obligations] if part.key == "obligations" else []
        for i, point in enumerate(part.points):
            extra: tuple[str, ...] = ()
            if i < len(codes) and codes[i] in applied:
                extra = (
                    "applied to the public view"
                    if applied[codes[i]]
                    else "NOT applied to the public view",
                )
            notes = "".join(f'<div class="note-line">{_e(n)}</div>' for n in (*point.notes, *extra))
            out.append(f"<li>{_e(point.text)}{notes}</li>")
        out.append("</ul>")
    return out


def _facts(record: RecordedRun) -> list[str]:
    d = record.decision
    rows: list[tuple[str, str]] = [
        ("Run", f"<code>{_e(d.run_id)}</code>"),
        ("Decision", f"<code>{_e(d.decision_id)}</code>"),
        ("Asset", f"<code>{_e(d.asset_key)}</code>"),
        ("Partition", f"{_e(_aoi(record) or '?')} on {_e(_day(record) or '?')}"),
        ("KFM outcome", f"{_e(d.kfm_outcome)}, lifecycle stage {_e(d.lifecycle_stage)}"),
        ("Evaluated", f"{_e(d.evaluated_at)} by {_e(d.engine)}"),
        ("Policy digest", f"<code>{_e(d.policy_digest)}</code>"),
    ]
    req = _request(record)
    if req is not None:
        if req.get("code_ref"):
            rows.append(("Code reference", f"<code>{_e(req['code_ref'])}</code>"))
        inputs = [i for i in req.get("inputs", []) if isinstance(i, dict)]
        if inputs:
            rows.append(("Inputs", ", ".join(f"<code>{_e(i.get('id'))}</code>" for i in inputs)))
    else:
        rows.append(("Request", "rejected before it could be read as a request"))
    where = record.folder.as_posix().rpartition(f"/{RUNS}/")[2]
    rows.append(("Record", f"<code>{RUNS}/{_e(where)}/</code>"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return [f'<table class="facts"><tbody>{body}</tbody></table>']


def _map_section(root: Path, record: RecordedRun, registries: Registries | None) -> list[str]:
    out = ["<h3>Map of the AOI</h3>"]
    if registries is None:
        return [*out, "<p>No map: the AOI registry could not be loaded.</p>"]
    if record.rejected or not _aoi(record):
        return [*out, "<p>No map: the request was rejected, so the partition is unknown.</p>"]
    try:
        svg, legend, caption = build_map_svg(root, record, registries)
    except KfmGateError as err:
        return [*out, f"<p>No map: {_e(err)}</p>"]
    out += [f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"]
    out.append(
        '<p class="key"><span><i class="sw" style="background:#fbf6e9;border-color:#3d4650">'
        "</i>AOI</span>"
        '<span><i class="sw" style="background:#f4d8d4;border-color:#c0392b;'
        'border-style:dashed"></i>tribal area (sensitive zone)</span>'
        '<span><i class="sw" style="background:#eadcf0;border-color:#8e44ad;'
        'border-style:dotted"></i>sensitive site, generalized</span>'
        '<span><i class="sw" style="background:#1f5fbf;border-color:#1f5fbf;'
        'border-radius:50%;width:11px"></i>published feature</span></p>'
    )
    if legend:
        out += ["<p>Sensitive zones touching the AOI:</p>", "<ul>", *legend, "</ul>"]
    else:
        out.append("<p>No sensitive zone of the registry touches this AOI.</p>")
    return out


def _run_section(
    root: Path,
    record: RecordedRun,
    registries: Registries | None,
    titles: dict[str, str],
    *,
    heading_level: int,
) -> list[str]:
    d = record.decision
    h = f"h{heading_level}"
    title = f"{d.asset_key} \N{EM DASH} {_aoi_name(registries, _aoi(record))} on {_day(record)}"
    if record.rejected:
        title = f"{d.asset_key} \N{EM DASH} rejected request"
    out = [f'<section id="{_e(_anchor(record))}">', f"<{h}>{_e(title)}</{h}>"]
    out.append(
        f'<div class="banner {d.outcome}"><strong>{_e(outcome_words(d.outcome))}</strong>'
        f"{_e(_BANNER[d.outcome])}</div>"
    )
    parts = explain_parts(d, record.evidence_doc, titles)
    reasons = [p for p in parts if p.key in ("error", "why", "warnings")]
    out += _parts_html(reasons, d, record.evidence_doc)
    out += _map_section(root, record, registries)
    out += _parts_html([p for p in parts if p not in reasons], d, record.evidence_doc)
    out.append("<h3>Evidence figures</h3>")
    out += _evidence_table(record.evidence_doc)
    out.append("<h3>Record</h3>")
    out += _facts(record)
    out.append("</section>")
    return out


def _load_registries(root: Path) -> Registries | None:
    from kfm_gate.geo import load_registries

    try:
        return load_registries(root / "data" / "aoi")
    except (KfmGateError, OSError):
        return None


def _titles(policy_dir: Path) -> dict[str, str]:
    return rule_titles(policy_dir) if policy_dir.is_dir() else {}


def render_run_report(root: Path, folder: Path | RecordedRun, policy_dir: Path) -> str:
    """The council report of one run folder, as a self-contained HTML page."""
    record = load_record(folder if isinstance(folder, Path) else folder.folder)
    registries = _load_registries(root)
    body = [
        "<h1>Council report</h1>",
        *_run_section(root, record, registries, _titles(policy_dir), heading_level=2),
    ]
    return _page(f"kfm-gate council report: {record.decision.run_id}", body)


def render_range_report(
    root: Path,
    records: Sequence[RecordedRun],
    policy_dir: Path,
    *,
    first: dt.date,
    last: dt.date,
    aoi: str | None = None,
) -> str:
    """One page for many runs: a summary table, then one section per run."""
    registries = _load_registries(root)
    titles = _titles(policy_dir)
    scope = f"partition days {first} to {last}" + (
        f", AOI {_aoi_name(registries, aoi)}" if aoi else ", every AOI"
    )
    counts: dict[str, int] = {}
    for r in records:
        counts[r.decision.outcome] = counts.get(r.decision.outcome, 0) + 1
    tally = ", ".join(
        f"{counts[o]} {o}" for o in ("allow", "deny", "quarantine", "error") if o in counts
    )
    body = [
        "<h1>Council report</h1>",
        f'<p class="sub">{len(records)} run(s), {_e(scope)}: {_e(tally)}.</p>',
        "<h2>Summary</h2>",
        "<table><thead><tr><th>Day</th><th>AOI</th><th>Asset</th><th>Outcome</th>"
        "<th>Reasons</th><th>Obligations</th><th>Waivers</th><th>Run</th></tr></thead><tbody>",
    ]
    for r in records:
        d = r.decision
        reasons = ", ".join(sorted(set(d.reason_codes))) or "\N{EM DASH}"
        obligations = ", ".join(sorted({o.code for o in d.obligations})) or "\N{EM DASH}"
        body.append(
            f"<tr><td>{_e(_day(r))}</td><td>{_e(_aoi_name(registries, _aoi(r)))}</td>"
            f"<td><code>{_e(d.asset_key)}</code></td>"
            f'<td><span class="pill {d.outcome}">{_e(d.outcome.upper())}</span></td>'
            f"<td>{_e(reasons)}</td><td>{_e(obligations)}</td><td>{len(d.waived)}</td>"
            f'<td><a href="#{_e(_anchor(r))}"><code>{_e(d.run_id)}</code></a></td></tr>'
        )
    body.append("</tbody></table>")
    for r in records:
        body += _run_section(root, r, registries, titles, heading_level=2)
    return _page(f"kfm-gate council report: {scope}", body)
