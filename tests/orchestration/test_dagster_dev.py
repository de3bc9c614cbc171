"""``dagster dev`` on 127.0.0.1: its GraphQL lists the assets and the blocking gate check."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.orchestration.conftest import make_repo

QUERY = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      ... on AssetChecks { checks { name blocking } }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            out.extend([child, *_children(child)])
    return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop dagster dev and its children by PID (it ignores SIGTERM in the background)."""
    pids = [*_children(proc.pid), proc.pid]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        try:
            proc.wait(timeout=15)
            if not any(Path(f"/proc/{p}").exists() for p in pids if p != proc.pid):
                return
        except subprocess.TimeoutExpired:
            continue


def _graphql(port: int, query: str) -> dict[str, object]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        doc: dict[str, object] = json.loads(resp.read())
    return doc


@pytest.mark.slow
def test_dagster_dev_serves_assets_and_blocking_gate_check(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "KFM_GATE_ROOT": str(repo),
        "KFM_GATE_AS_OF": "2026-11-03",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
    }
    dagster = Path(sys.executable).with_name("dagster")
    log = (tmp_path / "dagster_dev.log").open("wb")
    proc = subprocess.Popen(
        [
            str(dagster),
            "dev",
            "-m",
            "kfm_gate.orchestration.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        doc: dict[str, object] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                doc = _graphql(port, QUERY)
                nodes = doc.get("data", {}).get("assetNodes")  # type: ignore[union-attr]
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(1)
        data = doc["data"]
        assert isinstance(data, dict)
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        assert {
            "kfm/processed/historic_sites",
            "kfm/published/historic_sites",
            "kfm/catalog/stac_item",
            "kfm/catalog/dcat",
            "kfm/graph/historic_sites",
        } <= set(nodes)
        assert any(k.startswith("kfm/raw/ks_survey_") for k in nodes)
        checks = nodes["kfm/processed/historic_sites"]["assetChecksOrError"]["checks"]
        assert {"name": "kfm_gate", "blocking": True} in checks
    finally:
        _stop(proc)
        log.close()
    assert proc.poll() is not None
