"""Builders shared by the tests: a scratch repository with the project's policies."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PART = "data/processed/survey/historic_sites/ks-county-20045/2026-11-01"
ZERO = "sha256:" + "0" * 64


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


#: a valid historic_sites candidate (five invented sites near Lawrence, Douglas County)
SITES = (REPO / "examples/candidates/allow-douglas/sites.geojson").read_bytes()


def scratch_repo(tmp: Path) -> Path:
    """A repository root in ``tmp`` with copies of the project's policies and AOI registries."""
    root = tmp / "repo"
    root.mkdir()
    shutil.copytree(REPO / "policies", root / "policies")
    shutil.copytree(REPO / "data" / "aoi", root / "data" / "aoi")
    return root


def public_flags(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "classification": "public",
        "sensitivity": "public",
        "licenses": ["CC-BY-4.0"],
    }
    doc.update(extra)
    return doc


def make_request(
    root: Path,
    *,
    content: bytes = SITES,
    name: str = "sites.geojson",
    flags: dict[str, Any] | None = None,
    write: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid request whose one output is written under the partition folder."""
    path = f"{PART}/{name}"
    if write:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    doc: dict[str, Any] = {
        "asset_key": "kfm/historic_sites/public",
        "pipeline": "survey",
        "dataset": "historic_sites",
        "partition": {"aoi_key": "ks-county-20045", "time_key": "2026-11-01"},
        "code_ref": "3f2c1e0",
        "params": {"b": 1, "a": [1, 2]},
        "inputs": [
            {"id": "src:demo", "sha256": ZERO, "flags": public_flags() if flags is None else flags}
        ],
        "outputs": [{"path": path, "sha256": sha(content), "media_type": "application/geo+json"}],
    }
    doc.update(overrides)
    return doc


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode("utf-8")


def random_place(doc: Any, rng: Any, go_deeper: float) -> tuple[Any, Any]:
    """A random (container, key) inside a JSON document: from the top, step into a random
    child while there is one and ``rng.random() < go_deeper``; (None, None) at the top."""
    node: Any = doc
    parent: Any = None
    key: Any = None
    while isinstance(node, dict | list) and node and rng.random() < go_deeper:
        parent = node
        key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
        node = node[key]
    return parent, key


def assert_recorded_unpublished(root: Path, folder: str) -> None:
    """The run's records and its ledger entry are on disk; nothing was published and no
    temporary or pending journal is left."""
    from kfm_gate.journal import journal_pending
    from kfm_gate.provenance import Ledger

    run_dir = root / "mcp" / "runs" / folder
    assert (run_dir / "prov.ttl").is_file() and (run_dir / "ledger-entry.json").is_file()
    assert Ledger(root / "mcp" / "ledger.jsonl").verify().entries == 1
    assert not [p for p in (root / "data").rglob("*") if p.is_file()]
    assert not [p for p in root.rglob("*") if p.suffix in (".stg", ".tmp")]
    assert not journal_pending(root)


def record_draft(draft: Any, root: Path) -> Any:
    """Record a :class:`kfm_gate.runs.RunDraft` as the gate does (run store, one transaction)."""
    from kfm_gate.layout import Layout
    from kfm_gate.runs import RunStore

    return RunStore(Layout(root)).record(draft)


def record_and_publish(draft: Any, root: Path) -> Any:
    """Record a draft, then, when it is an allow, publish it as ``kfm-gate evaluate`` does;
    returns the publication (None for any other outcome)."""
    from kfm_gate.layout import Layout
    from kfm_gate.publication import Publisher

    record_draft(draft, root)
    if draft.decision.outcome != "allow":
        return None
    return Publisher(Layout(root)).publish(draft.request, draft.decision.run_id)
