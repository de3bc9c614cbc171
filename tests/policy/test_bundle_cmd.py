"""``kfm-gate policy bundle``: a valid, deterministic OPA bundle a server can load."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from kfm_gate.policy import EmbeddedOpaEngine, load_policy_set
from kfm_gate.policy.bundle_writer import bundle_bytes, read_bundle
from kfm_gate.policy.engine import DECISION_PATH
from kfm_gate.policy.server import OpaServerEngine
from tests.helpers import REPO
from tests.policy.cli_harness import run_cli
from tests.policy.opa_stub import running_opa_stub

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)


@pytest.fixture
def policies_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(REPO / "policies", folder)
    return folder


def test_bundle_command_writes_valid_manifest(
    policies_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "build/bundle.tar.gz"
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(out)]) == 0
    policies = load_policy_set(policies_dir)
    assert f"revision {policies.revision}" in capsys.readouterr().out
    with tarfile.open(out, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.loads(tar.extractfile(members[".manifest"]).read())  # type: ignore[union-attr]
        files = {
            name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for name, m in members.items()
            if m.isfile()
        }
    assert manifest["revision"] == policies.revision == policies.digest.removeprefix("sha256:")
    assert manifest["roots"] == ["kfm"]
    assert manifest["rego_version"] == 1
    assert manifest["metadata"]["policy_digest"] == policies.digest
    # every module and data document lies under the bundle's roots (OPA refuses others)
    rego = {n: b.decode() for n, b in files.items() if n.endswith(".rego")}
    assert set(rego) == set(policies.modules)  # tests are not shipped by default
    for name, source in rego.items():
        pkg = _PACKAGE.search(source)
        assert pkg and pkg.group(1).split(".")[0] == "kfm", name
    data = {n: json.loads(b) for n, b in files.items() if n.endswith("data.json")}
    assert data == {f"kfm/params/{t}/data.json": doc for t, doc in policies.data.items()}
    assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in members.values())
    assert list(members) == sorted(members)


def test_bundle_bytes_are_deterministic(policies_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(a)]) == 0
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    header = a.read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # gzip mtime 0
    # an edit changes the bytes and the revision
    gate = policies_dir / "data/gate.json"
    gate.write_text(gate.read_text().replace('"medium"]', '"medium", "low"]'))
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(b)]) == 0
    assert read_bundle(b.read_bytes()).revision != read_bundle(a.read_bytes()).revision


def test_include_tests(policies_dir: Path) -> None:
    policies = load_policy_set(policies_dir)
    with_tests = read_bundle(bundle_bytes(policies, include_tests=True))
    assert set(with_tests.modules) == set(policies.modules) | set(policies.tests)


def test_server_loads_the_bundle_and_decides_like_embedded(
    policies_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.tar.gz"
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(out)]) == 0
    policies = load_policy_set(policies_dir)
    doc = {
        "request": {},
        "flags": None,
        "flags_missing": ["x"],
        "geo": {},
        "evidence": {},
        "obligations": [],
        "waivers": [],
        "now": "2026-11-25T00:00:00Z",
        "today": "2026-11-25",
    }
    with (
        running_opa_stub(bundle=out.read_bytes()) as srv,
        OpaServerEngine(policies, url=srv.url, mode="bundle") as remote,
        EmbeddedOpaEngine(policies) as local,
    ):
        assert remote.evaluate(DECISION_PATH, doc) == local.evaluate(DECISION_PATH, doc)
        assert remote.last_revision == policies.revision
        assert srv.bundle_revision == policies.revision


def test_bad_rego_is_refused_before_writing(policies_dir: Path, tmp_path: Path) -> None:
    (policies_dir / "kfm/gate/broken.rego").write_text("package kfm.gate\n\nbroken if {\n")
    out = tmp_path / "bundle.tar.gz"
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(out)]) == 2
    assert not out.exists()


def test_out_must_be_a_file(policies_dir: Path, tmp_path: Path) -> None:
    assert run_cli(["policy", "bundle", str(policies_dir), "--out", str(tmp_path)]) == 2


def test_read_bundle_rejects_garbage() -> None:
    from kfm_gate.errors import PolicyError

    with pytest.raises(PolicyError, match="gzip"):
        read_bundle(b"not a bundle")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("x.rego")
        info.size = 0
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(PolicyError, match="manifest"):
        read_bundle(gzip.compress(raw.getvalue()))
