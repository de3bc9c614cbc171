"""Scratch repositories for the pipeline tests: the project's registries and data files, the
demo survey for a few counties, and a small test policy (real OPA) that denies chosen AOIs."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO

ALLOW_AOI = "ks-county-20177"  # Shawnee
DENY_AOI = "ks-county-20045"  # Douglas
DAYS = ("2026-11-02", "2026-11-03")
TEST_KEY = "kfm-gate-tests-only-" + "0" * 24

TEST_POLICY = """package kfm.gate

obligations := []

deny_aois := {a | some a in data.kfm.params.orchestration_test.deny_aois}

violation contains v if {
	input.request.partition.aoi_key in deny_aois
	v := {
		"rule": "orchestration_test.deny_aoi",
		"code": "TEST_AOI_DENIED",
		"msg": "the test policy denies this AOI",
		"severity": "high",
		"details": {},
	}
}

default decision := {"outcome": "deny", "violations": [], "warnings": [], "waived": [], "quarantine": []}

decision := {"outcome": "allow", "violations": [], "warnings": [], "waived": [], "quarantine": []} if {
	count(violation) == 0
}

decision := {"outcome": "deny", "violations": [v | some v in violation], "warnings": [], "waived": [], "quarantine": []} if {
	count(violation) > 0
}
"""


def make_repo(
    base: Path,
    *,
    counties: tuple[str, ...] = (ALLOW_AOI, DENY_AOI),
    days: tuple[str, ...] = DAYS,
    deny: tuple[str, ...] = (DENY_AOI,),
    real_policies: bool = False,
) -> Path:
    """A repository root under ``base`` with registries, demo survey and policies."""
    from kfm_gate.orchestration.survey import SurveySettings, write_survey

    root = base / "repo"
    root.mkdir(parents=True)
    shutil.copytree(REPO / "policies", root / "policies")
    (root / "data").mkdir()
    shutil.copytree(REPO / "data" / "aoi", root / "data" / "aoi")
    if not real_policies:
        gate_dir = root / "policies" / "kfm" / "gate"
        shutil.rmtree(gate_dir)
        gate_dir.mkdir(parents=True)
        (gate_dir / "stub.rego").write_text(TEST_POLICY, encoding="utf-8")
        # the council's waivers name rules of the real policy set, which the stub lacks
        shutil.rmtree(root / "policies" / "waivers")
        deny_list = ", ".join(f'"{a}"' for a in deny)
        (root / "policies" / "data" / "orchestration_test.json").write_text(
            f'{{"deny_aois": [{deny_list}]}}\n', encoding="utf-8"
        )
    write_survey(root, SurveySettings(county_ids=counties, days=days))
    return root


@pytest.fixture
def mask_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KFM_MASK_KEY", TEST_KEY)
    return TEST_KEY


@pytest.fixture
def repo(tmp_path: Path, mask_key: str) -> Iterator[Path]:
    from kfm_gate.orchestration.resources import clear_gate_cache

    root = make_repo(tmp_path)
    yield root
    clear_gate_cache()


@pytest.fixture
def runner(repo: Path, tmp_path: Path) -> object:
    import dagster as dg

    from kfm_gate.orchestration.resources import KfmGateResource
    from kfm_gate.orchestration.runner import PipelineRunner

    r = PipelineRunner(
        repo,
        dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")),
        resource=KfmGateResource(root=str(repo), as_of=DAYS[-1]),
    )
    r.register_aois([ALLOW_AOI, DENY_AOI])
    return r


def tree_bytes(root: Path, *folders: str) -> dict[str, bytes]:
    """Every file under ``folders`` of ``root``, by relative path (locks left out)."""
    out: dict[str, bytes] = {}
    for folder in folders:
        base = root / folder
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and ".locks" not in path.parts:
                out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def source_of(root: Path, aoi: str) -> str:
    """The source id whose records cover ``aoi``."""
    for path in sorted((root / "data/raw").glob("*.csv")):
        if f",{aoi.removeprefix('ks-county-')}," in path.read_text(encoding="utf-8"):
            return path.stem
    raise AssertionError(f"no source covers {aoi}")


def rewrite_source(
    root: Path,
    source_id: str,
    mutate: Callable[[list[dict[str, str]]], list[dict[str, str]]],
    *,
    version: str | None = None,
    predecessor: str | None = None,
) -> None:
    """Edit a source's records, then its manifest (checksum, watermark, version chain)."""
    import csv
    import io

    import yaml

    from kfm_gate.orchestration.survey import csv_bytes

    raw = root / "data/raw" / f"{source_id}.csv"
    rows = list(csv.DictReader(io.StringIO(raw.read_text(encoding="utf-8"))))
    rows = mutate(rows)
    data = csv_bytes(rows)
    raw.write_bytes(data)
    man_path = root / "data/sources" / f"{source_id}.yml"
    doc = yaml.safe_load(man_path.read_text(encoding="utf-8"))
    doc["source_head"]["content_identity"]["content_sha256"] = (
        "sha256:" + hashlib.sha256(data).hexdigest()
    )
    doc["watermark"] = max(r["survey_day"] for r in rows)
    if version is not None:
        doc["source_head"]["version"] = version
        doc["source_head"]["predecessor_version"] = predecessor
    man_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
