"""Real gate runs for the council report tests, recorded once per module in a scratch repo.

* ``allow``: Sedgwick County; the first feature lies inside the sensitive site
  ``zone-demo-site-c`` and its notes hold an e-mail address and a phone number; the gate masks
  and redacts, then publishes.
* ``deny``: the same candidate without a code reference.
* ``quarantine``: Douglas County, a feature inside the sacred site ``zone-demo-site-a``.
* ``error``: a request that is not JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.cli import main
from kfm_gate.layout import Layout
from kfm_gate.runs import RunStore
from tests.helpers import SITES, dump, make_request, scratch_repo, sha

AS_OF = "2026-11-25"
#: raw coordinates of the sensitive features: they must never appear in a report
SEDGWICK_POINTS = [
    (-97.52013, 37.70042),  # inside zone-demo-site-c
    (-97.33017, 37.68721),
    (-97.41029, 37.76113),
    (-97.25034, 37.59047),
    (-97.60121, 37.81236),
]
DOUGLAS_SACRED = (-95.41037, 38.89013)  # inside zone-demo-site-a
PII_VALUES = ["Jane Roe", "785-555-0142", "jane.roe@example.org"]


@dataclass(frozen=True)
class Runs:
    root: Path
    ids: dict[str, str]
    candidates: dict[str, Path]

    def folder(self, name: str) -> Path:
        return RunStore(Layout(self.root)).find(self.ids[name]).folder


def _candidate(points: list[tuple[float, float]], geoid: str) -> bytes:
    doc: dict[str, Any] = json.loads(SITES)
    for feat, point in zip(doc["features"], points, strict=False):
        feat["geometry"]["coordinates"] = list(point)
        feat["properties"]["county_geoid"] = geoid
    doc["features"][0]["properties"]["notes"] = (
        f"owner {PII_VALUES[0]}, call {PII_VALUES[1]} or write to {PII_VALUES[2]}"
    )
    return json.dumps(doc).encode("utf-8")


def _evaluate(root: Path, doc: dict[str, Any] | bytes) -> str:
    """Gate one request through the CLI; the run id it printed."""
    req = root / "req.json"
    req.write_bytes(doc if isinstance(doc, bytes) else dump(doc))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["--root", str(root), "evaluate", str(req), "--as-of", AS_OF, "--format", "json"])
    return str(json.loads(out.getvalue())["run_id"])


def _request(root: Path, aoi: str, day: str, content: bytes, **extra: Any) -> dict[str, Any]:
    part = f"data/processed/survey/historic_sites/{aoi}/{day}/candidate"
    (root / part).mkdir(parents=True, exist_ok=True)
    (root / part / "sites.geojson").write_bytes(content)
    out = {"path": f"{part}/sites.geojson", "sha256": sha(content)}
    out["media_type"] = "application/geo+json"
    return make_request(
        root, write=False, partition={"aoi_key": aoi, "time_key": day}, outputs=[out], **extra
    )


@pytest.fixture(scope="package")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("KFM_MASK_KEY", raising=False)
        key = tmp_path_factory.mktemp("key") / "mask.key"  # a named key file must exist
        key.write_text("f" * 64 + "\n")
        key.chmod(0o600)
        mp.setenv("KFM_MASK_KEY_FILE", str(key))
        root = scratch_repo(tmp_path_factory.mktemp("council"))
        ids: dict[str, str] = {}
        sedgwick = _candidate(SEDGWICK_POINTS, "20173")
        douglas = _candidate([DOUGLAS_SACRED], "20045")
        ids["allow"] = _evaluate(root, _request(root, "ks-county-20173", "2026-11-02", sedgwick))
        ids["deny"] = _evaluate(
            root, _request(root, "ks-county-20173", "2026-11-03", sedgwick, code_ref="")
        )
        ids["quarantine"] = _evaluate(
            root, _request(root, "ks-county-20045", "2026-11-01", douglas)
        )
        ids["error"] = _evaluate(root, b"{not json")
        candidates = {
            "sedgwick": root / "data/processed/survey/historic_sites/ks-county-20173/2026-11-02"
            "/candidate/sites.geojson",
            "douglas": root / "data/processed/survey/historic_sites/ks-county-20045/2026-11-01"
            "/candidate/sites.geojson",
        }
        yield Runs(root, ids, candidates)
