"""``kfm-gate ci``: a clean repository passes; each planted fault gives exactly one finding."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kfm_gate.audit import run_audit
from kfm_gate.cli import main
from kfm_gate.reporting.base import FORMATS, build_renderer
from tests.helpers import REPO

FAULTS = {
    ("partition-keys", "time_key"),
    ("placement", "file:checksum"),
    ("provenance-present", "prov.ttl"),
    ("placement", "outside the known data folders"),
    ("secrets-pii", "secret"),
    ("waivers", "expired"),
}


@pytest.fixture(scope="module")
def clean_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository after the example requests went through the default gate."""
    from kfm_gate.examples import run_examples

    root = tmp_path_factory.mktemp("ci") / "repo"
    root.mkdir()
    for part in ("policies", "examples", "data/aoi", "data/sources"):
        shutil.copytree(REPO / part, root / part)
    mp = pytest.MonkeyPatch()
    mp.setenv("KFM_MASK_KEY", "test-only-key-0123456789abcdef0123456789")
    try:
        run_examples(root, as_of=dt.date(2026, 11, 25))
    finally:
        mp.undo()
    return root


def _plant(root: Path) -> None:
    runs = sorted(
        p
        for p in (root / "mcp/runs").iterdir()
        if (p / "decision.json").is_file() and "invalid" not in p.name
    )
    # 1. a partition key that is not a date
    req = runs[0] / "request.json"
    doc = json.loads(req.read_text())
    doc["partition"]["time_key"] = "2026-13-45"
    req.write_text(json.dumps(doc, indent=2, sort_keys=True))
    # 2. a published item asset without a checksum
    item = next((root / "data/stac").rglob("item.json"))
    doc = json.loads(item.read_text())
    first = sorted(doc["assets"])[0]
    del doc["assets"][first]["file:checksum"]
    item.write_text(json.dumps(doc, indent=2, sort_keys=True))
    # 3. a run without its provenance
    (runs[1] / "prov.ttl").unlink()
    # 4. a file outside data/processed
    (root / "data/exports").mkdir()
    (root / "data/exports/sites.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}'
    )
    # 5. a secret in a log
    with (runs[2] / "run.log").open("a") as fh:
        fh.write("debug: aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY9\n")
    # 6. an expired waiver
    (root / "policies/waivers/old.yml").write_text(
        "id: old-survey\nscope:\n  asset: '*'\n  rules: [integrity.code_ref]\n"
        "reason: legacy import\napprover: fair-care-council\ncreated: 2025-01-01\nexpires: 2025-06-30\n"
    )


@pytest.fixture(scope="module")
def faulty_repo(clean_repo: Path) -> Path:
    root = clean_repo.parent / "faulty"
    shutil.copytree(clean_repo, root)
    _plant(root)
    return root


def test_clean_repository_passes(clean_repo: Path) -> None:
    report = run_audit(clean_repo)
    assert report.findings == [], report.findings
    assert report.exit_code == 0
    examined = {c.name: c.examined for c in report.checks}
    assert examined["partition-keys"] == 6 and examined["stac-valid"] >= 2


def test_each_planted_fault_gives_one_finding(faulty_repo: Path) -> None:
    report = run_audit(faulty_repo)
    assert report.exit_code == 1
    found = report.findings
    assert len(found) == len(FAULTS), [f.to_dict() for f in found]
    for check, fragment in FAULTS:
        matching = [f for f in found if f.check == check and fragment in (f.message + f.file)]
        assert len(matching) == 1, (check, fragment, [f.to_dict() for f in found])
    assert all(f.file for f in found)
    secret = next(f for f in found if f.check == "secrets-pii")
    assert secret.file.endswith("run.log") and secret.line > 1
    assert "wJalr" not in json.dumps([f.to_dict() for f in found])  # never the secret itself


def _count(fmt: str, text: str) -> int:
    if fmt == "json":
        return sum(len(c["findings"]) for c in json.loads(text)["checks"])
    if fmt == "sarif":
        doc = json.loads(text)
        assert doc["version"] == "2.1.0"
        return len(doc["runs"][0]["results"])
    if fmt == "junit":
        suite = ET.fromstring(text).find("testsuite")
        assert suite is not None
        return len(suite.findall(".//failure")) + len(suite.findall(".//system-out"))
    if fmt == "github":
        return sum(line.startswith(("::error", "::warning")) for line in text.splitlines())
    if fmt == "markdown":
        return sum(line.startswith(("| error", "| warning")) for line in text.splitlines())
    return sum(line.startswith(("  error:", "  warning:")) for line in text.splitlines())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reports_every_fault(faulty_repo: Path, clean_repo: Path, fmt: str) -> None:
    renderer = build_renderer(fmt)
    assert _count(fmt, renderer.render(run_audit(faulty_repo))) == len(FAULTS)
    assert _count(fmt, renderer.render(run_audit(clean_repo))) == 0


def test_github_annotations_carry_file_and_line(faulty_repo: Path) -> None:
    text = build_renderer("github").render(run_audit(faulty_repo))
    line = next(x for x in text.splitlines() if "time_key" in x)
    assert line.startswith("::error file=mcp/runs/") and ",line=" in line


def test_cli_exit_codes_and_unknown_format(
    faulty_repo: Path, clean_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(clean_repo), "ci"]) == 0
    assert main(["--root", str(faulty_repo), "ci", "--format", "sarif"]) == 1
    assert main(["--root", str(faulty_repo), "ci", "--format", "yaml"]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_recorded_public_views_are_not_scanned_as_records(tmp_path: Path) -> None:
    """The masked public view recorded with an allow is the published data (examined by the
    gate's own evidence), not a record about it: the CI scan leaves it out, as it leaves out
    data/processed; a secret in the run's log beside it is still found."""
    from kfm_gate.audit import _public_view, check_secrets_pii

    runs = tmp_path / "mcp" / "runs"
    assert _public_view(runs, runs / "r" / "public" / "sites.geojson")
    assert _public_view(runs, runs / "r" / "attempts" / "d" / "public" / "sites.geojson")
    assert not _public_view(runs, runs / "r" / "public.json")
    assert not _public_view(runs, runs / "r" / "openlineage" / "public")
    view = runs / "r" / "public" / "sites.geojson"
    view.parent.mkdir(parents=True)
    view.write_text('{"coordinates": [-95.85611564676306, 39.28975266182371]}\n')
    (runs / "r" / "run.log").write_text(
        "debug: aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY9\n"
    )
    result = check_secrets_pii(tmp_path)
    assert [f.file for f in result.findings] == ["mcp/runs/r/run.log"]
