"""Look at the council report as a person would: headless Chromium takes a screenshot.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``), or another Chromium or
Chrome binary named by ``KFM_CHROMIUM``; skipped without one.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from kfm_gate.reporting.council import render_run_report
from tests.reporting.conftest import Runs

CHROMIUM = Path(os.environ.get("KFM_CHROMIUM") or "/usr/bin/chromium")


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 255
            elif filt == 2:
                line[i] = (line[i] + b) & 255
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    # keep RGB only
    return width, height, [bytes(r[i] for i in range(len(r)) if i % channels < 3) for r in rows]


def _has_colour(rows: list[bytes], rgb: tuple[int, int, int], tol: int = 4) -> bool:
    for row in rows:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - rgb[k]) <= tol for k in range(3)):
                return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM} (apt-get install chromium)")
def test_screenshot_shows_banner_map_and_text(runs: Runs, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_run_report(runs.root, runs.folder("quarantine"), runs.root / "policies"))
    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1200,1600",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    data = shot.read_bytes()
    assert len(data) > 20_000, f"screenshot of {len(data)} bytes: blank page?"
    width, height, rows = _png_pixels(data)
    assert (width, height) == (1200, 1600)
    sample = rows[::40]
    colours = {row[i : i + 3] for row in sample for i in range(0, len(row), 3 * 7)}
    assert len(colours) > 20, "the page renders as a few flat colours"
    assert _has_colour(sample, (0xFF, 0xF4, 0xE0)), "no quarantine banner background"
    assert _has_colour(sample, (0xFB, 0xF6, 0xE9)), "no AOI fill: the map did not render"
    # dark text on the page (the body colour)
    assert _has_colour(rows, (0x1D, 0x23, 0x2A), tol=24), "no dark text"
