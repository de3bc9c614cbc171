"""The OPA server engine against a real local HTTP server speaking OPA's REST API.

No ``opa`` binary can be installed here: ``tests/policy/opa_stub.py`` is a stdlib HTTP server
on 127.0.0.1 whose evaluation is the real OPA Go library (``opa_bindings``). The engine talks
to it through ``opa-python-client`` exactly as it would to ``opa run --server``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.errors import (
    ConfigError,
    PolicyCompileError,
    PolicyEngineUnavailableError,
    PolicyError,
    PolicyEvalError,
)
from kfm_gate.gate import build_gate
from kfm_gate.policy import EmbeddedOpaEngine, load_policy_set
from kfm_gate.policy.bundle_writer import bundle_bytes
from kfm_gate.policy.engine import DECISION_PATH, OBLIGATIONS_PATH, PolicyEngine
from kfm_gate.policy.factory import build_engine
from kfm_gate.policy.server import (
    ENVELOPE_ID,
    OpaServerEngine,
    envelope_module,
    parse_opa_url,
)
from kfm_gate.policy.worker import ProcessOpaEngine
from tests.helpers import PART, ZERO, dump, make_request, public_flags, scratch_repo
from tests.policy.opa_stub import OpaDataApiServer, running_opa_stub

AS_OF = dt.date(2026, 11, 25)
AOIS = frozenset({"ks-county-20045", "ks-county-20001"})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path)


@pytest.fixture
def server() -> Iterator[OpaDataApiServer]:
    with running_opa_stub() as srv:
        yield srv


def _dead_url() -> str:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- golden cases: the same decisions through both engines ----------------------------------


def _golden_requests(root: Path) -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {"allow": make_request(root)}
    missing = make_request(root)
    missing["inputs"][0]["flags"] = None
    cases["deny-missing-flags"] = missing
    cases["quarantine-sacred"] = make_request(
        root, flags=public_flags(tk_labels=["tkss"], indigenous_rights_flag=True)
    )
    bad_sum = make_request(root, name="other.csv")
    bad_sum["outputs"][0]["sha256"] = ZERO
    cases["deny-checksum"] = bad_sum
    no_ref = make_request(root, name="legacy.csv", code_ref=None)
    cases["deny-no-code-ref"] = no_ref
    waived = make_request(
        root, name="waived.csv", code_ref=None, asset_key="kfm/legacy_survey/public"
    )
    cases["allow-waived-code-ref"] = waived
    cases["deny-unknown-classification"] = make_request(
        root, name="u.csv", flags=public_flags(classification="unknown")
    )
    return cases


def _projection(run: Any) -> dict[str, Any]:
    d = run.decision.to_json_dict()
    keep = ("outcome", "violations", "warnings", "waived", "obligations", "reason_codes")
    return {k: d.get(k) for k in keep}


def _run_all(root: Path, engine: PolicyEngine, cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    gate = build_gate(root, as_of=AS_OF, aoi_ids=AOIS, engine=engine, force=True)
    try:
        return {name: gate.evaluate(dump(doc)) for name, doc in cases.items()}
    finally:
        gate.close()


def test_golden_cases_same_through_embedded_and_server(
    root: Path, server: OpaDataApiServer
) -> None:
    cases = _golden_requests(root)
    policies = load_policy_set(root / "policies")
    embedded = _run_all(root, EmbeddedOpaEngine(policies), cases)
    engine = OpaServerEngine(policies, url=server.url)
    remote = _run_all(root, engine, cases)
    # the cases differ from each other, so the comparison means something (the exact
    # outcomes follow the council's policies, which change; see the fixed set below)
    distinct = {repr(_projection(run)) for run in embedded.values()}
    assert len(distinct) == len(cases), "golden cases must give distinct decisions"
    for name in cases:
        assert remote[name].decision.engine == "opa-server", name
        assert _projection(remote[name]) == _projection(embedded[name]), name
    # two phases per case went over HTTP, each with its own OPA decision id
    assert len(server.decision_ids) == 2 * len(cases)
    assert engine.last_decision_id == server.decision_ids[-1]


_FIXED_POLICY = """package kfm.gate

default decision := {"outcome": "deny", "violations": [], "warnings": [], "waived": []}

limit := data.kfm.params.limits.max_cells

violation contains {"rule": "size", "code": "TOO_LARGE", "msg": "too large",
  "severity": "high", "details": {"cells": input.cells}} if input.cells > limit

quarantine contains {"rule": "tk", "code": "CONSENT_REQUIRED", "msg": "review",
  "severity": "high", "details": {}} if "tkss" in input.labels

outcome := "deny" if {
	count(violation) > 0
} else := "quarantine" if {
	count(quarantine) > 0
} else := "allow"

decision := {"outcome": outcome, "violations": [v | some v in violation],
  "warnings": [], "waived": [], "quarantine": [q | some q in quarantine]}

obligations contains {"code": "ATTACH_RIGHTS_NOTICE", "kind": "notice", "params": {},
  "reason": "labels", "rule": "notice", "sources": []} if count(input.labels) > 0
"""

FIXED_CASES = {
    "allow": ({"cells": 3, "labels": []}, "allow"),
    "deny": ({"cells": 30, "labels": []}, "deny"),
    "quarantine": ({"cells": 1, "labels": ["tkss"]}, "quarantine"),
    "deny-over-quarantine": ({"cells": 99, "labels": ["tkss"]}, "deny"),
}


def test_fixed_golden_cases_through_both_engines(tmp_path: Path) -> None:
    folder = tmp_path / "pol"
    (folder / "kfm/gate").mkdir(parents=True)
    (folder / "data").mkdir()
    (folder / "kfm/gate/fixed.rego").write_text(_FIXED_POLICY)
    (folder / "data/limits.json").write_text('{"max_cells": 10}')
    policies = load_policy_set(folder)
    with (
        running_opa_stub() as srv,
        EmbeddedOpaEngine(policies) as local,
        OpaServerEngine(policies, url=srv.url) as remote,
    ):
        for name, (input_doc, expected) in FIXED_CASES.items():
            for path in (DECISION_PATH, OBLIGATIONS_PATH):
                assert remote.evaluate(path, input_doc) == local.evaluate(path, input_doc), name
            assert remote.evaluate(DECISION_PATH, input_doc)["outcome"] == expected, name
            assert remote.last_decision_id == srv.decision_ids[-1]


def test_pushes_modules_and_params_without_rewriting(server: OpaDataApiServer) -> None:
    policies = load_policy_set(scratch_repo_policies())
    with OpaServerEngine(policies, url=server.url) as engine:
        engine.connect()
        assert sorted(server.policies) == sorted(
            [ENVELOPE_ID, *(f"kfm-gate/{rel}" for rel in policies.modules)]
        )
        assert server.policies[ENVELOPE_ID] == envelope_module(policies.revision)
        assert server.data["kfm"]["params"] == policies.data
        for rel, source in policies.modules.items():
            assert server.policies[f"kfm-gate/{rel}"] == source  # byte for byte
        assert engine.revision == policies.revision
        assert engine.policy_digest == policies.digest


def scratch_repo_policies() -> Path:
    return Path(__file__).resolve().parents[2] / "policies"


def test_v0_module_is_rejected_not_upgraded(tmp_path: Path, server: OpaDataApiServer) -> None:
    folder = tmp_path / "pol"
    (folder / "kfm").mkdir(parents=True)
    (folder / "kfm/old.rego").write_text('package kfm.old\n\ndeny[msg] {\n  msg := "x"\n}\n')
    engine = OpaServerEngine(load_policy_set(folder), url=server.url)
    with engine, pytest.raises(PolicyCompileError, match=r"kfm/old\.rego") as info:
        engine.connect()
    assert info.value.location is not None and info.value.location.endswith(":3")
    puts = [p for m, p in server.requests if m == "PUT" and p.startswith("/v1/policies/")]
    # rego_compat=False: one upload per pass (the envelope's upload made the first pass
    # progress, so a second pass tried again), never a rewritten variant
    assert puts.count("/v1/policies/kfm-gate/kfm/old.rego") == 2
    assert set(server.policies) <= {ENVELOPE_ID}


def test_stale_pushed_modules_are_deleted(tmp_path: Path, server: OpaDataApiServer) -> None:
    folder = tmp_path / "pol"
    shutil.copytree(scratch_repo_policies(), folder)
    with OpaServerEngine(load_policy_set(folder), url=server.url) as first:
        first.connect()
    (folder / "kfm/extra.rego").write_text("package kfm.extra\n\nx := 1\n")
    with OpaServerEngine(load_policy_set(folder), url=server.url) as second:
        assert second.evaluate("kfm.extra.x", {}) == 1
    (folder / "kfm/extra.rego").unlink()
    server.put_policy("someone-else/keep.rego", "package other\n\ny := 2\n")
    with OpaServerEngine(load_policy_set(folder), url=server.url) as third:
        third.connect()
        with pytest.raises(PolicyEvalError, match="undefined"):
            third.evaluate("kfm.extra.x", {})
    assert "kfm-gate/kfm/extra.rego" not in server.policies
    assert "someone-else/keep.rego" in server.policies  # not ours: left alone


# -- fail closed --------------------------------------------------------------------------


def test_dead_server_gives_error_not_allow(root: Path) -> None:
    policies = load_policy_set(root / "policies")
    engine = OpaServerEngine(policies, url=_dead_url(), timeout_s=0.5, retries=0)
    gate = build_gate(root, as_of=AS_OF, aoi_ids=AOIS, engine=engine)
    run = gate.evaluate(dump(make_request(root)))
    gate.close()
    assert run.decision.outcome == "error"
    assert run.decision.reason_codes == ("POLICY_ENGINE_UNAVAILABLE",)
    assert "not reachable" in (run.decision.error or "")
    assert (run.run_dir / "decision.json").is_file()
    assert not (root / PART / "public").exists()


def test_timeout_gives_error(root: Path, server: OpaDataApiServer) -> None:
    policies = load_policy_set(root / "policies")
    engine = OpaServerEngine(policies, url=server.url, timeout_s=0.3, retries=0)
    engine.connect()
    server.delay_s = 1.0
    gate = build_gate(root, as_of=AS_OF, aoi_ids=AOIS, engine=engine)
    run = gate.evaluate(dump(make_request(root)))
    gate.close()
    assert run.decision.outcome == "error"
    assert run.decision.reason_codes == ("POLICY_ENGINE_UNAVAILABLE",)
    assert "no complete answer within 0.3 s (limit opa_call_s" in (run.decision.error or "")


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_http_errors_give_error(root: Path, server: OpaDataApiServer, status: int) -> None:
    policies = load_policy_set(root / "policies")
    engine = OpaServerEngine(policies, url=server.url, retries=0)
    engine.connect()
    server.fail_status = status
    with pytest.raises(PolicyEngineUnavailableError, match=f"HTTP {status}"):
        engine.evaluate(DECISION_PATH, {})
    gate = build_gate(root, as_of=AS_OF, aoi_ids=AOIS, engine=engine)
    run = gate.evaluate(dump(make_request(root)))
    gate.close()
    assert run.decision.outcome == "error"
    assert not (root / PART / "public").exists()


def test_undefined_result_gives_error(root: Path, server: OpaDataApiServer) -> None:
    policies = load_policy_set(root / "policies")
    engine = OpaServerEngine(policies, url=server.url)
    with pytest.raises(PolicyEvalError, match="undefined"):
        engine.evaluate("kfm.gate.no_such_rule", {})
    assert engine.last_decision_id == server.decision_ids[-1]  # recorded even when undefined
    server.undefined = True
    gate = build_gate(root, as_of=AS_OF, aoi_ids=AOIS, engine=engine)
    run = gate.evaluate(dump(make_request(root)))
    gate.close()
    assert run.decision.outcome == "error"
    assert run.decision.reason_codes == ("POLICY_EVAL_ERROR",)


def test_not_an_opa_server(tmp_path: Path) -> None:
    policies = load_policy_set(scratch_repo_policies())
    with running_opa_stub() as srv:
        srv.fail_status = 200  # answers 200 with a body that is not a result document
        with (
            OpaServerEngine(policies, url=srv.url) as engine,
            pytest.raises(PolicyEvalError, match="undefined"),
        ):
            engine.evaluate(OBLIGATIONS_PATH, {})


# -- bundle mode --------------------------------------------------------------------------


def test_bundle_mode_checks_the_revision(root: Path) -> None:
    policies = load_policy_set(root / "policies")
    with running_opa_stub(bundle=bundle_bytes(policies)) as srv:
        engine = OpaServerEngine(policies, url=srv.url, mode="bundle")
        cases = _golden_requests(root)
        remote = _run_all(root, engine, cases)
        embedded = _run_all(root, EmbeddedOpaEngine(policies), cases)
        for name in cases:
            assert _projection(remote[name]) == _projection(embedded[name]), name
        assert engine.last_revision == policies.revision
        assert not [m for m, p in srv.requests if m == "PUT"]  # nothing pushed

        # the council edits a threshold: the server still serves the old bundle
        data = root / "policies/data/gate.json"
        data.write_text(data.read_text().replace('"medium"]', '"medium", "low"]'))
        edited = load_policy_set(root / "policies")
        stale = OpaServerEngine(edited, url=srv.url, mode="bundle")
        with pytest.raises(PolicyError, match="serves bundle revision"):
            stale.connect()
        gate = build_gate(root, as_of=AS_OF, aoi_ids=AOIS, engine=stale, force=True)
        run = gate.evaluate(dump(make_request(root)))
        gate.close()
        assert run.decision.outcome == "error"


def test_bundle_mode_without_bundle_is_an_error(server: OpaDataApiServer) -> None:
    engine = OpaServerEngine(
        load_policy_set(scratch_repo_policies()), url=server.url, mode="bundle"
    )
    with engine, pytest.raises(PolicyError, match="no active bundle"):
        engine.connect()


def test_push_mode_against_bundle_server_is_refused() -> None:
    policies = load_policy_set(scratch_repo_policies())
    with running_opa_stub(bundle=bundle_bytes(policies)) as srv:
        engine = OpaServerEngine(policies, url=srv.url, mode="push")
        with engine, pytest.raises(PolicyError, match="use bundle mode"):
            engine.connect()


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8181", ("127.0.0.1", 8181, False)),
        ("http://localhost", ("localhost", 8181, False)),
        ("https://opa.internal", ("opa.internal", 443, True)),
    ],
)
def test_parse_url(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_opa_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "127.0.0.1:8181", "http://h:1/v1/data", "http://h:x"])
def test_bad_url_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="--opa-url"):
        parse_opa_url(url)


def test_factory(tmp_path: Path) -> None:
    policies = load_policy_set(scratch_repo_policies())
    embedded = build_engine("embedded", policies=policies)
    assert isinstance(embedded, ProcessOpaEngine) and embedded.name == "embedded-opa"
    assert embedded.deadline_s == 10.0
    embedded.close()
    remote = build_engine("opa", policies=policies, opa_url="http://127.0.0.1:1", timeout_s=3)
    assert isinstance(remote, OpaServerEngine) and remote.timeout_s == 3.0
    assert isinstance(remote, PolicyEngine)
    with pytest.raises(ConfigError, match="--opa-url"):
        build_engine("opa", policies=policies)
    with pytest.raises(ConfigError, match="unknown"):
        build_engine("regopy", policies=policies)
    with pytest.raises(ConfigError, match="positive"):
        OpaServerEngine(policies, url="http://127.0.0.1:1", timeout_s=0)


def test_decision_records_opa_decision_ids_and_revision(
    root: Path, server: OpaDataApiServer
) -> None:
    from kfm_gate.runtime import build_default_gate

    policies = load_policy_set(root / "policies")
    engine = OpaServerEngine(policies, url=server.url, timeout_s=5.0, retries=0)
    gate = build_default_gate(root, as_of=AS_OF, engine=engine)
    run = gate.evaluate(dump(make_request(root)))
    gate.close()
    assert run.decision.outcome == "allow", run.decision.violations
    ids = run.decision.engine_decision_ids
    assert set(ids) == {"obligations", "decision"}
    assert (
        ids["decision"] == server.decision_ids[-1] and ids["obligations"] == server.decision_ids[-2]
    )
    recorded = (run.run_dir / "decision.json").read_text()
    assert server.decision_ids[-1] in recorded
    # OPA's ids are provenance: a second evaluation gets new OPA ids, the same decision id
    engine2 = OpaServerEngine(policies, url=server.url, timeout_s=5.0, retries=0)
    gate2 = build_default_gate(root, as_of=AS_OF, engine=engine2, force=True)
    again = gate2.evaluate(dump(make_request(root)))
    gate2.close()
    assert again.decision.engine_decision_ids != ids
    assert again.decision.decision_id == run.decision.decision_id
