"""The registry of fault cases: each injects one failure and reports how the gate closed.

A case is a function ``(scratch folder) -> FaultResult`` registered with :func:`fault`. It is
*closed* when the gate gave outcome ``error`` (or the command exited 2, or the loader refused
the document), with a clear one-line message and no traceback, and nothing was published.
``tests/reliability/test_faults.py`` asserts every case is closed;
``benchmarks/bench_reliability.py`` counts them (``fault_cases_closed`` / ``fault_cases_total``).
Other issues add their cases here with the same decorator.

Where a service cannot run here (an OPA server), the case runs a real local HTTP server
(``tests/policy/opa_stub.py``); failures of the operating system (ENOSPC, EACCES) are
injected as the ``OSError`` the call would raise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import io
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from tests.helpers import REPO, dump, make_request, public_flags, scratch_repo, sha

AS_OF = dt.date(2026, 11, 3)
ZONE_AOI = "ks-county-20085"  # Jackson County: holds the schematic Prairie Band Potawatomi area
ZONE_POINTS = [(-95.85, 39.35), (-95.84, 39.34), (-95.86, 39.36)]


@dataclass
class FaultResult:
    """What the gate did with one injected fault."""

    outcome: str  # "error", "exit 2", "refused" (a loader raised) or what else happened
    message: str
    published: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def closed(self) -> bool:
        message = self.message.strip()
        return (
            self.outcome in ("error", "exit 2", "refused")
            and bool(message)
            and "Traceback" not in message
            and "\n" not in message
            and not self.published
        )


FaultCase = Callable[[Path], FaultResult]
FAULTS: dict[str, FaultCase] = {}


def fault(name: str) -> Callable[[FaultCase], FaultCase]:
    """Register a fault case under ``name``."""

    def register(case: FaultCase) -> FaultCase:
        if name in FAULTS:
            raise ValueError(f"fault case {name!r} is registered twice")
        FAULTS[name] = case
        return case

    return register


def run_fault(name: str, base: Path) -> FaultResult:
    """Run one case in a fresh folder under ``base``; an exception escaping it is a failure
    of the fault handling (outcome ``raised``), reported, never hidden."""
    folder = base / name
    folder.mkdir(parents=True)
    start = time.monotonic()
    try:
        with _environment():
            result = FAULTS[name](folder)
    except Exception as err:
        result = FaultResult("raised", f"{type(err).__name__}: {err}")
    result.seconds = time.monotonic() - start
    return result


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    """A masking key of its own; no leftover switches from the caller."""
    saved = {
        k: os.environ.get(k) for k in ("KFM_MASK_KEY", "KFM_MASK_KEY_FILE", "KFM_QUALITY_WORKER")
    }
    os.environ["KFM_MASK_KEY"] = "fault-suite-masking-key-0123456789abcdef"
    os.environ.pop("KFM_MASK_KEY_FILE", None)
    os.environ.pop("KFM_QUALITY_WORKER", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- helpers ---------------------------------------------------------------------------------


def published(root: Path) -> list[str]:
    """Files of the public side: promoted views and catalog records."""
    found = []
    for base in (root / "data" / "processed", root / "data" / "stac", root / "data" / "graph"):
        if base.is_dir():
            found += [
                p.relative_to(root).as_posix()
                for p in base.rglob("*")
                if p.is_file() and ("/public/" in p.as_posix() or "processed" not in p.as_posix())
            ]
    return sorted(found)


def leftovers(root: Path) -> list[str]:
    """Temporary files a write left behind (half-written state)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and (p.name.endswith((".tmp", ".stg")) or p.name.startswith(".kfm-"))
    )


def gate_result(root: Path, run: Any) -> FaultResult:
    decision = run.decision
    message = decision.error or "; ".join(v.msg for v in decision.violations)
    return FaultResult(decision.outcome, message, published(root) + leftovers(root))


def default_gate(root: Path, **kw: Any) -> Any:
    from kfm_gate.runtime import build_default_gate

    return build_default_gate(root, as_of=AS_OF, **kw)


def light_gate(root: Path, **kw: Any) -> Any:
    """The gate without the heavy collectors (quality, PII): for engine and record faults."""
    from kfm_gate.gate import build_gate

    return build_gate(root, as_of=AS_OF, aoi_ids=frozenset({"ks-county-20045"}), **kw)


def evaluate(gate: Any, doc: Any) -> Any:
    try:
        return gate.evaluate(doc if isinstance(doc, bytes) else dump(doc))
    finally:
        gate.close()


def cli(root: Path, *args: str) -> FaultResult:
    """``kfm-gate --root ROOT args...`` in this process: exit 2 with one line on stderr."""
    from kfm_gate.cli import main

    if args and args[0] == "evaluate":
        args = (*args, "--format", "json")  # the outcome is read from the JSON decision
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(root), *args])
    text = err.getvalue().strip()
    outcome = "exit 2" if code == 2 else f"exit {code}"
    if code == 1 and '"outcome": "error"' in out.getvalue():
        outcome = "error"
        text = json.loads(out.getvalue())["error"] or text
    if code == 2 and not text:  # an invalid request: recorded, its error on stdout
        text = out.getvalue().strip().splitlines()[0] if out.getvalue().strip() else ""
    return FaultResult(outcome, text, published(root) + leftovers(root))


def zone_request(root: Path) -> dict[str, Any]:
    """A request whose features lie in a sensitive zone (a generalize obligation applies)."""
    feats = [
        {
            "type": "Feature",
            "id": f"z{i}",
            "properties": {"feature_id": f"z{i}", "lon": lon, "lat": lat},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for i, (lon, lat) in enumerate(ZONE_POINTS)
    ]
    content = json.dumps({"type": "FeatureCollection", "features": feats}).encode()
    path = f"data/processed/survey/sites/{ZONE_AOI}/2026-11-01/sites.geojson"
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(content)
    doc = make_request(root, write=False, partition={"aoi_key": ZONE_AOI, "time_key": "2026-11-01"})
    doc["dataset"] = "sites"
    doc["outputs"] = [{"path": path, "sha256": sha(content), "media_type": "application/geo+json"}]
    return doc


def _refused(call: Callable[[], Any]) -> FaultResult:
    from kfm_gate.errors import KfmGateError

    try:
        call()
    except KfmGateError as err:
        return FaultResult("refused", str(err))
    return FaultResult("accepted", "the loader accepted the document")


# -- the policy engine -----------------------------------------------------------------------


class _Raising:
    name = "raising"
    policy_digest = "sha256:" + "1" * 64
    revision = "1" * 64

    def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
        raise RuntimeError("engine exploded")

    def close(self) -> None:
        return


@fault("engine-raises")
def _engine_raises(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    return gate_result(root, evaluate(light_gate(root, engine=_Raising()), make_request(root)))


@fault("engine-answers-garbage")
def _engine_garbage(folder: Path) -> FaultResult:
    class Garbage(_Raising):
        def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
            return "allow"

    root = scratch_repo(folder)
    return gate_result(root, evaluate(light_gate(root, engine=Garbage()), make_request(root)))


_EXPENSIVE = """package kfm.gate

# a rule whose comprehension never ends in practice: 10^4 x 10^4 pairs
slow := count([x | some i in numbers.range(1, 10000); some j in numbers.range(1, 10000); x := i * j])
"""


@fault("embedded-evaluation-past-its-deadline")
def _engine_deadline(folder: Path) -> FaultResult:
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.worker import ProcessOpaEngine

    root = scratch_repo(folder)
    decision = root / "policies/kfm/gate/decision.rego"
    text = decision.read_text().replace('"outcome": outcome,', '"outcome": outcome, "slow": slow,')
    decision.write_text(text)
    (root / "policies/kfm/gate/slow.rego").write_text(_EXPENSIVE)
    engine = ProcessOpaEngine(load_policy_set(root / "policies"), deadline_s=1.0)
    result = gate_result(root, evaluate(light_gate(root, engine=engine), make_request(root)))
    if "POLICY_DEADLINE_EXCEEDED" not in json.dumps(result.message + result.outcome) and (
        "policy_eval_s" not in result.message
    ):
        result.outcome = f"{result.outcome} (not the deadline)"
    return result


@fault("policy-does-not-compile")
def _policy_compile(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "policies/kfm/gate/broken.rego").write_text(
        "package kfm.gate\n\ndeny[msg] {\n  msg := 1\n}\n"
    )
    return gate_result(root, evaluate(light_gate(root), make_request(root)))


@fault("policy-data-section-missing")
def _policy_section(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "policies/data/geo.json").unlink()
    return gate_result(root, evaluate(light_gate(root), make_request(root)))


# -- the OPA server --------------------------------------------------------------------------


def _server_gate(root: Path, url: str, *, timeout_s: float = 1.0, mode: str = "push") -> Any:
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.server import OpaServerEngine

    engine = OpaServerEngine(
        load_policy_set(root / "policies"),
        url=url,
        timeout_s=timeout_s,
        retries=0,
        mode=mode,  # type: ignore[arg-type]
    )
    return light_gate(root, engine=engine)


@fault("opa-server-down")
def _opa_down(folder: Path) -> FaultResult:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = scratch_repo(folder)
    return gate_result(
        root, evaluate(_server_gate(root, f"http://127.0.0.1:{port}"), make_request(root))
    )


@contextlib.contextmanager
def _stub(**faults: Any) -> Iterator[Any]:
    from tests.policy.opa_stub import running_opa_stub

    with running_opa_stub() as server:
        for name, value in faults.items():
            setattr(server, name, value)
        yield server


@fault("opa-server-hangs")
def _opa_hangs(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    with _stub(delay_s=30.0) as server:
        result = gate_result(
            root, evaluate(_server_gate(root, server.url, timeout_s=0.5), make_request(root))
        )
    return result


@fault("opa-server-trickles")
def _opa_trickles(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    with _stub(trickle_s=0.05) as server:  # every read gets a byte well within the timeout
        result = gate_result(
            root, evaluate(_server_gate(root, server.url, timeout_s=1.0), make_request(root))
        )
    return result


@fault("opa-server-answers-garbage")
def _opa_garbage(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    with _stub(garbage=True) as server:
        return gate_result(root, evaluate(_server_gate(root, server.url), make_request(root)))


@fault("opa-server-http-500")
def _opa_500(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    with _stub(fail_status=500) as server:
        return gate_result(root, evaluate(_server_gate(root, server.url), make_request(root)))


@fault("opa-server-answers-allow-without-our-policies")
def _opa_allow_everything(folder: Path) -> FaultResult:
    from tests.policy.opa_stub import AllowEverythingServer

    root = scratch_repo(folder)
    doc = make_request(root, flags=public_flags(classification="unknown"))  # would deny
    with AllowEverythingServer() as server:
        return gate_result(root, evaluate(_server_gate(root, server.url), doc))


@fault("opa-server-serves-another-bundle")
def _opa_other_bundle(folder: Path) -> FaultResult:
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.bundle_writer import bundle_bytes
    from tests.policy.opa_stub import running_opa_stub

    root = scratch_repo(folder)
    other = folder / "other"
    shutil.copytree(root / "policies", other)
    (other / "data/gate.json").write_text(
        (other / "data/gate.json").read_text().replace('"medium"', '"low"')
    )
    with running_opa_stub(bundle=bundle_bytes(load_policy_set(other))) as server:
        return gate_result(
            root, evaluate(_server_gate(root, server.url, mode="bundle"), make_request(root))
        )


# -- collectors ------------------------------------------------------------------------------


class _Hanging:
    name = "hanging"

    def collect(self, ctx: Any) -> Any:
        time.sleep(3600)


@fault("collector-hangs")
def _collector_hangs(folder: Path) -> FaultResult:
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

    root = scratch_repo(folder)
    gate = light_gate(root, collectors=[ChecksumCollector(), PlacementCollector(), _Hanging()])
    gate.settings = type(gate.settings)(**{**gate.settings.__dict__, "collector_timeout_s": 0.5})
    start = time.monotonic()
    result = gate_result(root, evaluate(gate, make_request(root)))
    if time.monotonic() - start > 30:
        result.outcome = "waited past the deadline"
    return result


@fault("collector-raises")
def _collector_raises(folder: Path) -> FaultResult:
    class Raising:
        name = "raising"

        def collect(self, ctx: Any) -> Any:
            raise KeyError("lost")

    root = scratch_repo(folder)
    return gate_result(root, evaluate(light_gate(root, collectors=[Raising()]), make_request(root)))


@fault("collector-returns-garbage")
def _collector_garbage(folder: Path) -> FaultResult:
    class Garbage:
        name = "garbage"

        def collect(self, ctx: Any) -> Any:
            return {"status": "ok"}

    root = scratch_repo(folder)
    return gate_result(root, evaluate(light_gate(root, collectors=[Garbage()]), make_request(root)))


# -- context: suites, registries, waivers ------------------------------------------------------


@fault("quality-suite-corrupt")
def _suite_corrupt(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "policies/quality/historic_sites.json").write_text('{"name": "historic_sites", ')
    return gate_result(root, evaluate(default_gate(root), make_request(root)))


@fault("quality-suite-missing")
def _suite_missing(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "policies/quality/historic_sites.json").unlink()
    return gate_result(root, evaluate(default_gate(root), make_request(root)))


@fault("aoi-registry-missing")
def _registry_missing(folder: Path) -> FaultResult:
    """A repository without data/aoi used to skip every geo check and allow an in-zone site."""
    root = scratch_repo(folder)
    doc = zone_request(root)
    shutil.rmtree(root / "data/aoi")
    return gate_result(root, evaluate(default_gate(root), doc))


@fault("aoi-registry-corrupt")
def _registry_corrupt(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "data/aoi/aoi_registry.geojson").write_text('{"type": "FeatureCollection", "feat')
    (root / "req.json").write_bytes(dump(make_request(root)))
    return cli(root, "evaluate", str(root / "req.json"), "--as-of", AS_OF.isoformat())


@fault("zone-registry-flag-as-string")
def _zone_string_flag(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    path = root / "data/aoi/zone_registry.geojson"
    doc = json.loads(path.read_text())
    doc["features"][0]["properties"]["indigenous_rights_flag"] = "false"
    path.write_text(json.dumps(doc))
    (root / "req.json").write_bytes(dump(make_request(root)))
    return cli(root, "evaluate", str(root / "req.json"), "--as-of", AS_OF.isoformat())


def _waiver(root: Path, text: str) -> None:
    (root / "policies/waivers/fault.yml").write_text(text)


_WAIVER = (
    "id: fault-waiver\nscope:\n  asset: '*'\n  rules: [{rule}]\nreason: {reason}\n"
    "approver: '{approver}'\ncreated: 2026-11-01\nexpires: 2026-12-31\n"
)


@fault("waiver-file-corrupt")
def _waiver_corrupt(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    _waiver(root, "id: [unclosed\n")
    return gate_result(root, evaluate(light_gate(root), make_request(root)))


@fault("waiver-blank-approver")
def _waiver_blank(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    _waiver(
        root, _WAIVER.format(rule="integrity.code_ref", reason="legacy survey data", approver="--")
    )
    return gate_result(root, evaluate(light_gate(root), make_request(root, code_ref=None)))


@fault("waiver-wildcard-on-a-non-waivable-rule")
def _waiver_wildcard(folder: Path) -> FaultResult:
    """asset '*' waiving flags.unknown used to allow a partition whose flags were unknown."""
    root = scratch_repo(folder)
    _waiver(
        root,
        _WAIVER.format(
            rule="flags.unknown", reason="we know better than that", approver="fair-care-council"
        ),
    )
    doc = make_request(root, flags=public_flags(classification="unknown"))
    return gate_result(root, evaluate(light_gate(root), doc))


@fault("waiver-approver-not-on-the-roster")
def _waiver_roster(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    _waiver(
        root,
        _WAIVER.format(rule="integrity.code_ref", reason="legacy survey data", approver="someone"),
    )
    return gate_result(root, evaluate(light_gate(root), make_request(root, code_ref=None)))


@fault("waiver-unknown-rule")
def _waiver_unknown(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    _waiver(
        root,
        _WAIVER.format(
            rule="integrity.code_reff", reason="legacy survey data", approver="fair-care-council"
        ),
    )
    return gate_result(root, evaluate(light_gate(root), make_request(root, code_ref=None)))


@fault("source-manifest-boolean-as-string")
def _manifest_string(folder: Path) -> FaultResult:
    from kfm_gate.orchestration.sources import read_manifest

    path = folder / "ks_survey_nc.yml"
    text = (REPO / "data/sources/ks_survey_nc.yml").read_text()
    path.write_text(text.replace("redistribution_allowed: true", "redistribution_allowed: 'no'"))
    return _refused(lambda: read_manifest(path))


@fault("source-manifest-yaml-1-1-boolean")
def _manifest_yes(folder: Path) -> FaultResult:
    from kfm_gate.orchestration.sources import read_manifest

    path = folder / "ks_survey_nc.yml"
    text = (REPO / "data/sources/ks_survey_nc.yml").read_text()
    path.write_text(text.replace("redistribution_allowed: true", "redistribution_allowed: yes"))
    return _refused(lambda: read_manifest(path))


# -- the request -------------------------------------------------------------------------------


def _flags_case(folder: Path, **flags: Any) -> FaultResult:
    root = scratch_repo(folder)
    return gate_result(
        root, evaluate(light_gate(root), make_request(root, flags=public_flags(**flags)))
    )


#: wrong-typed governance values: each was read as a valid value on 584f44a
_WRONG_FLAGS: dict[str, dict[str, Any]] = {
    "flag-false-as-string": {"indigenous_rights_flag": "false"},
    "flag-no-as-string": {"indigenous_rights_flag": "no"},
    "flag-zero-as-number": {"indigenous_rights_flag": 0},
    "classification-not-exact": {"classification": "Public"},
    "embargo-as-a-number": {"embargo_until": 0},
}
for _name, _flags in _WRONG_FLAGS.items():
    fault(_name)(functools.partial(_flags_case, **_flags))


@fault("request-nested-too-deep")
def _deep(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    raw = dump(make_request(root)).replace(
        b'"params": {', b'"params": {"deep": ' + b"[" * 5000 + b"]" * 5000 + b", ", 1
    )
    return gate_result(root, evaluate(light_gate(root), raw))


@fault("request-too-many-elements")
def _many(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    doc = make_request(root)
    doc["params"]["cells"] = [0] * 100_000  # 200 kB, under request_bytes: the elements limit
    return gate_result(root, evaluate(light_gate(root), dump(doc)))


@fault("request-million-element-array")
def _million(folder: Path) -> FaultResult:
    """A 1,000,000-element array in params peaked at 1.2 GB on 584f44a."""
    root = scratch_repo(folder)
    doc = make_request(root)
    doc["params"]["cells"] = [0] * 1_000_000  # 2 MB: refused before parsing (request_bytes)
    return gate_result(root, evaluate(light_gate(root), dump(doc)))


@fault("request-too-many-bytes")
def _big(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    doc = make_request(root)
    doc["params"]["blob"] = "x" * (2 * 1024 * 1024)
    return gate_result(root, evaluate(light_gate(root), dump(doc)))


@fault("request-many-elements-as-a-dict")
def _many_dict(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    doc = make_request(root)
    doc["params"]["cells"] = list(range(100_000))
    gate = light_gate(root)
    try:
        return gate_result(root, gate.evaluate(doc))
    finally:
        gate.close()


# -- explicit settings -------------------------------------------------------------------------


@fault("mask-key-file-named-but-missing")
def _key_missing(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    doc = zone_request(root)
    os.environ.pop("KFM_MASK_KEY")
    os.environ["KFM_MASK_KEY_FILE"] = str(folder / "nonexistent" / "mask.key")
    result = gate_result(root, evaluate(default_gate(root), doc))
    if (folder / "nonexistent").exists():
        result.outcome = "created the key folder"
    return result


@fault("quality-worker-switch-wrong")
def _worker_switch(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    os.environ["KFM_QUALITY_WORKER"] = "of"
    return gate_result(root, evaluate(default_gate(root), make_request(root)))


@fault("opa-url-with-the-embedded-engine")
def _opa_url_embedded(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "req.json").write_bytes(dump(make_request(root)))
    return cli(root, "evaluate", str(root / "req.json"), "--opa-url", "http://127.0.0.1:8181")


@fault("policies-folder-named-but-missing")
def _policies_missing(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "req.json").write_bytes(dump(make_request(root)))
    return cli(root, "evaluate", str(root / "req.json"), "--policies", str(folder / "nope"))


@fault("ledger-named-but-missing")
def _ledger_missing(folder: Path) -> FaultResult:
    return cli(
        scratch_repo(folder), "ledger", "verify", "--ledger", str(folder / "nonexistent.jsonl")
    )


@fault("ledger-empty-but-its-head-records-entries")
def _ledger_empty(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "mcp").mkdir()
    (root / "mcp/ledger.jsonl").write_text("")
    (root / "mcp/ledger.head.json").write_text('{"count": 3, "hash": "sha256:' + "a" * 64 + '"}\n')
    result = cli(root, "ledger", "verify")
    if result.outcome == "exit 1":  # the command ran and found the damage: closed
        result.outcome, result.message = "exit 2", "ledger does not verify: head records 3 entries"
    return result


# -- writes: full disk, unwritable folders, files in the way ------------------------------------


def _disk_full() -> Any:
    """``os.write`` failing as on a full disk (every write of the gate's files goes through
    it: run records, ledger, catalogs, reports)."""

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return mock.patch("os.write", full)


@fault("disk-full-while-recording")
def _enospc_record(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "req.json").write_bytes(dump(make_request(root)))
    with _disk_full():
        return cli(root, "evaluate", str(root / "req.json"), "--as-of", AS_OF.isoformat())


@fault("disk-full-while-masking")
def _enospc_masking(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    doc = zone_request(root)
    real_replace = Path.replace

    def full(self: Path, target: Any) -> Any:
        if self.name.startswith(".kfm-") and "staging" in self.as_posix():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return real_replace(self, target)

    with mock.patch.object(Path, "replace", full):
        return gate_result(root, evaluate(default_gate(root), doc))


@fault("runs-folder-unwritable")
def _eacces(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "req.json").write_bytes(dump(make_request(root)))
    real_mkdir = Path.mkdir

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if "mcp" in self.parts:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    with mock.patch.object(Path, "mkdir", denied):
        return cli(root, "evaluate", str(root / "req.json"), "--as-of", AS_OF.isoformat())


@fault("runs-folder-is-a-file")
def _runs_file(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    (root / "mcp").mkdir()
    (root / "mcp/runs").write_text("not a folder")
    (root / "req.json").write_bytes(dump(make_request(root)))
    return cli(root, "evaluate", str(root / "req.json"), "--as-of", AS_OF.isoformat())


@fault("report-out-in-a-missing-folder")
def _ci_out(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    result = cli(
        root,
        "ci",
        "--check",
        "waivers",
        "--format",
        "sarif",
        "--out",
        str(folder / "missing/dir/x.sarif"),
    )
    if (folder / "missing").exists():
        result.outcome = "created the folder"
    return result


@fault("disk-full-writing-a-report")
def _ci_out_full(folder: Path) -> FaultResult:
    root = scratch_repo(folder)
    target = folder / "report.sarif"

    with _disk_full():
        result = cli(root, "ci", "--check", "waivers", "--format", "sarif", "--out", str(target))
    half = [p.name for p in folder.iterdir() if p.name.startswith(".report.sarif") or p == target]
    if half:
        result.published = [*result.published, *half]
    return result
