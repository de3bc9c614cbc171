"""The council's policy set as an OPA bundle (``.tar.gz``) that an OPA server can load.

Layout of the archive (paths relative to the bundle root)::

    /.manifest                      {"revision": <policy digest hex>, "roots": ["kfm"],
                                     "rego_version": 1, "metadata": {...}}
    /kfm/gate/<file>.rego           the Rego modules, at their path under the policy folder
    /kfm/params/<topic>/data.json   each file of policies/data/, read as data.kfm.params.<topic>
    /kfm/params/data.json           topics whose names hold a dot (nested data files), if any

The revision is the policy digest without its ``sha256:`` prefix, the value the gate records
as the engine revision. Tests (``*_test.rego``) are left out unless asked for: a server does
not run them. Waivers and quality suites are read by the gate, not by OPA, so they are not in
the bundle (they are still covered by the digest).

The bytes are deterministic: sorted entries, fixed owner and mode, mtime 0 in the tar headers
and in the gzip header, no file name in the gzip header.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfm_gate.errors import PolicyError
from kfm_gate.policy.bundle import PolicySet

#: the data and package root the bundle owns on a server
BUNDLE_ROOT = "kfm"
PARAMS_DIR = "kfm/params"
_MODE = 0o644


@dataclass(frozen=True)
class BundleInfo:
    """What was written: where, its revision and the archive's entries."""

    path: Path
    revision: str
    entries: tuple[str, ...]
    size: int


def _dumps(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def bundle_manifest(policies: PolicySet) -> dict[str, Any]:
    """The ``.manifest`` document of the policy set's bundle."""
    return {
        "revision": policies.revision,
        "roots": [BUNDLE_ROOT],
        "rego_version": 1,
        "metadata": {
            "producer": "kfm-gate",
            "policy_digest": policies.digest,
            "files": list(policies.files),
        },
    }


def bundle_entries(policies: PolicySet, *, include_tests: bool = False) -> dict[str, bytes]:
    """Archive path -> bytes of every file of the bundle (``.manifest`` included)."""
    entries: dict[str, bytes] = {".manifest": _dumps(bundle_manifest(policies))}
    modules = dict(policies.modules)
    if include_tests:
        modules.update(policies.tests)
    for rel, source in modules.items():
        if not rel.startswith(f"{BUNDLE_ROOT}/"):
            raise PolicyError(
                f"Rego module {rel} lies outside the bundle root {BUNDLE_ROOT}/: "
                f"move it under policies/{BUNDLE_ROOT}/ so a server with roots "
                f"[{BUNDLE_ROOT!r}] accepts it"
            )
        entries[rel] = source.encode("utf-8")
    dotted: dict[str, Any] = {}
    for topic, doc in policies.data.items():
        if "." in topic:
            dotted[topic] = doc
        else:
            entries[f"{PARAMS_DIR}/{topic}/data.json"] = _dumps(doc)
    if dotted:
        entries[f"{PARAMS_DIR}/data.json"] = _dumps(dotted)
    return entries


def bundle_bytes(policies: PolicySet, *, include_tests: bool = False) -> bytes:
    """The bundle as deterministic ``.tar.gz`` bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(bundle_entries(policies, include_tests=include_tests).items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            info.mode = _MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_bundle(policies: PolicySet, out: Path, *, include_tests: bool = False) -> BundleInfo:
    """Write the bundle to ``out`` (write then rename: readers never see half a file)."""
    data = bundle_bytes(policies, include_tests=include_tests)
    out = out.resolve()
    if out.is_dir():
        raise PolicyError(
            f"bundle output {out} is a folder; pass a file name such as bundle.tar.gz"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    names = tuple(sorted(bundle_entries(policies, include_tests=include_tests)))
    return BundleInfo(path=out, revision=policies.revision, entries=names, size=len(data))


@dataclass(frozen=True)
class BundleContents:
    """A bundle read back: its manifest, Rego modules and data documents by path."""

    manifest: dict[str, Any]
    modules: dict[str, str]
    data: dict[str, Any]  # slash path of the folder ("" = root) -> document

    @property
    def revision(self) -> str:
        return str(self.manifest.get("revision", ""))

    def data_tree(self) -> dict[str, Any]:
        """Every data document merged into one tree, as OPA builds ``data``."""
        tree: dict[str, Any] = {}
        for folder, doc in sorted(self.data.items()):
            node = tree
            parts = [p for p in folder.split("/") if p]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            if parts:
                existing = node.get(parts[-1])
                if isinstance(existing, dict) and isinstance(doc, dict):
                    existing.update(doc)
                else:
                    node[parts[-1]] = doc
            elif isinstance(doc, dict):
                tree.update(doc)
        return tree


def read_bundle(data: bytes) -> BundleContents:
    """Parse ``.tar.gz`` bundle bytes; PolicyError when the archive or manifest is unusable."""
    try:
        raw = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            members = [(m, _member_bytes(tar, m)) for m in tar.getmembers() if m.isfile()]
    except (OSError, EOFError, tarfile.TarError) as err:
        raise PolicyError(f"bundle is not a gzip-compressed tar archive: {err}") from err
    manifest: dict[str, Any] | None = None
    modules: dict[str, str] = {}
    docs: dict[str, Any] = {}
    for member, content in members:
        name = member.name.lstrip("/")
        if name.startswith("..") or "/../" in name:
            raise PolicyError(f"bundle entry {member.name!r} leaves the bundle root")
        try:
            if name == ".manifest":
                manifest = json.loads(content)
            elif name.endswith(".rego"):
                modules[name] = content.decode("utf-8")
            elif name == "data.json" or name.endswith("/data.json"):
                docs[name.removesuffix("data.json").rstrip("/")] = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PolicyError(f"bundle entry {name} is unreadable: {err}") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("revision"), str):
        raise PolicyError("bundle has no .manifest with a string revision")
    return BundleContents(manifest=manifest, modules=modules, data=docs)


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""
