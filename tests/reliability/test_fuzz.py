"""Fuzzing (issue #12): malformed governance values never reach ``allow``; nothing crashes.

Hypothesis generates wrong-typed governance values for the request model, the flags, waivers,
source manifests and the AOI / zone registries, and arbitrary CSV and GeoJSON candidates.
Every malformed governance field is refused naming the field (outcome ``error`` through the
gate), no accepted value was coerced, and the gate never raises. The fast suite runs a few
examples of each; the same properties run with many more under ``-m slow``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kfm_gate import parse_request
from kfm_gate.errors import InputError
from kfm_gate.limits import load_yaml
from kfm_gate.models import GovernanceFlags
from kfm_gate.models.flags import CARE_ORDER, CLASSIFICATION_ORDER, SENSITIVITY_ORDER
from tests.helpers import REPO, SITES, dump, make_request, public_flags, scratch_repo, sha

AS_OF = dt.date(2026, 11, 3)


#: examples run per property in this session (printed at the end of the module, with -s)
EXAMPLES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_examples() -> Iterator[None]:
    yield
    print(f"\nfuzzed examples: {sum(EXAMPLES.values())} {dict(sorted(EXAMPLES.items()))}")


def both(fast: int, slow: int) -> Callable[[Any], Any]:
    """Parametrize a property over the fast and the slow example counts."""

    def wrap(test: Any) -> Any:
        return pytest.mark.parametrize(
            "budget", [fast, pytest.param(slow, marks=pytest.mark.slow)], ids=["fast", "slow"]
        )(test)

    return wrap


# -- strategies of wrong values ----------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _not_bool() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["false", "no", "0", "off", "False", "true", "yes", "1", "on", ""]),
        st.integers(-3, 3),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
        st.lists(st.booleans(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2),
        st.text(max_size=8),
    )


def _not_enum(values: tuple[str, ...]) -> st.SearchStrategy[Any]:
    variants = st.sampled_from(values).flatmap(
        lambda v: st.sampled_from([v.upper(), v.title(), f" {v}", f"{v} ", f"{v}\n", v + "_"])
    )
    return st.one_of(
        variants.filter(lambda v: v not in values),
        st.text(max_size=20).filter(lambda v: v not in values),
        st.integers(-2, 5),
        st.booleans(),
        st.none(),
        st.lists(st.sampled_from(values), min_size=1, max_size=2),
    )


def _not_str_list() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=8),
        st.integers(),
        st.booleans(),
        st.lists(
            st.one_of(
                st.integers(),
                st.booleans(),
                st.none(),
                st.floats(allow_nan=False, allow_infinity=False),
            ),
            min_size=1,
            max_size=3,
        ),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1, max_size=2),
    )


def _not_day() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-(2**31), 2**31),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.sampled_from(
            ["2026-01-01T00:00:00", "2026-02-30", "20260101", "2026-1-1", "tomorrow", "", "0"]
        ),
        st.text(max_size=12).filter(lambda t: not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t)),
        st.lists(st.integers(), max_size=3),
    )


#: governance fields of a request and the strategy of wrong values for each
REQUEST_FIELDS: dict[tuple[str | int, ...], st.SearchStrategy[Any]] = {
    ("inputs", 0, "flags", "indigenous_rights_flag"): _not_bool(),
    ("inputs", 0, "flags", "classification"): _not_enum(CLASSIFICATION_ORDER),
    ("inputs", 0, "flags", "sensitivity"): _not_enum(SENSITIVITY_ORDER),
    ("inputs", 0, "flags", "care_class"): _not_enum(CARE_ORDER),
    ("inputs", 0, "flags", "tk_labels"): _not_str_list(),
    ("inputs", 0, "flags", "bc_labels"): _not_str_list(),
    ("inputs", 0, "flags", "notices"): _not_str_list(),
    ("inputs", 0, "flags", "licenses"): _not_str_list(),
    ("inputs", 0, "flags", "sovereignty_authorities"): _not_str_list(),
    ("inputs", 0, "flags", "embargo_until"): _not_day(),
    ("inputs", 0, "kind"): _not_enum(("stac_item", "source_manifest", "asset")),
    ("outputs", 0, "role"): _not_enum(("data", "metadata", "thumbnail", "overview")),
    ("partition", "time_key"): _not_day(),
    ("schema_version",): _not_enum(("1",)),
}


def _set(doc: Any, path: tuple[str | int, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = scratch_repo(tmp_path_factory.mktemp("fuzz"))
    yield root


@pytest.fixture(scope="module")
def light_gate(fuzz_root: Path) -> Iterator[Any]:
    from kfm_gate.gate import build_gate

    gate = build_gate(fuzz_root, as_of=AS_OF, aoi_ids=frozenset({"ks-county-20045"}))
    yield gate
    gate.close()


@both(fast=60, slow=1500)
def test_request_governance_fields_are_strict(fuzz_root: Path, budget: int) -> None:
    base = make_request(fuzz_root)

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(sorted(REQUEST_FIELDS, key=str)).flatmap(
            lambda p: st.tuples(st.just(p), REQUEST_FIELDS[p])
        )
    )
    def check(case: tuple[tuple[str | int, ...], Any]) -> None:
        EXAMPLES["requests"] += 1
        path, value = case
        doc = copy.deepcopy(base)
        _set(doc, path, value)
        with pytest.raises(InputError) as info:
            parse_request(dump(doc))
        message = str(info.value)
        assert str(path[-1]) in message, (path, value, message)
        assert "and " not in message.split("invalid field(s)")[0]  # never "and N more"

    check()


@both(fast=20, slow=300)
def test_malformed_governance_never_allows_through_the_gate(
    fuzz_root: Path, light_gate: Any, budget: int
) -> None:
    base = make_request(fuzz_root)

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(sorted(REQUEST_FIELDS, key=str)).flatmap(
            lambda p: st.tuples(st.just(p), REQUEST_FIELDS[p])
        ),
        st.integers(0, 10**9),
    )
    def check(case: tuple[tuple[str | int, ...], Any], salt: int) -> None:
        EXAMPLES["gate"] += 1
        path, value = case
        doc = copy.deepcopy(base)
        doc["params"] = {"salt": salt}
        _set(doc, path, value)
        run = light_gate.evaluate(dump(doc))
        assert run.decision.outcome == "error", (path, value, run.decision.outcome)
        assert run.decision.error and "\n" not in run.decision.error

    check()


@both(fast=80, slow=3000)
def test_flags_accept_only_exact_values(budget: int) -> None:
    names = (
        "classification",
        "sensitivity",
        "care_class",
        "indigenous_rights_flag",
        "tk_labels",
        "licenses",
        "embargo_until",
    )
    exact = st.fixed_dictionaries(
        {"classification": st.sampled_from(CLASSIFICATION_ORDER)},
        optional={
            "sensitivity": st.sampled_from(SENSITIVITY_ORDER),
            "care_class": st.sampled_from(CARE_ORDER),
            "indigenous_rights_flag": st.booleans(),
            "tk_labels": st.lists(st.text(max_size=5), max_size=2),
            "licenses": st.lists(st.text(max_size=5), max_size=2),
            "embargo_until": st.dates().map(dt.date.isoformat),
        },
    )
    noisy = st.dictionaries(st.sampled_from(names), _JSON, max_size=4)

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(exact, noisy, st.builds(lambda a, b: {**a, **b}, exact, noisy)))
    def check(doc: dict[str, Any]) -> None:
        EXAMPLES["flags"] += 1
        try:
            flags = GovernanceFlags.model_validate(json.loads(json.dumps(doc)))
        except Exception as err:
            assert type(err).__name__ == "ValidationError", err
            return
        read = flags.to_json_dict()
        for name, value in doc.items():  # accepted: exactly what was given, never coerced
            if name in ("tk_labels", "licenses"):
                assert read[name] == sorted(set(value))
            else:
                assert read[name] == value, (name, value, read[name])
            if name == "indigenous_rights_flag":
                assert type(value) is bool

    check()


# -- waivers -------------------------------------------------------------------------------------

_ROSTER = ("fair-care-council", "council-chair", "data-steward", "tribal-liaison")
_RULES = (
    "integrity.code_ref",
    "quality.expectation_failed",
    "flags.unknown",
    "flags.missing",
    "geo.r_min",
    "pii.entity_reported",
    "licence.unknown",
    "obligations.restricted_tk_review",
    "SENSITIVITY_UNRESOLVED",
    "POLICY_INPUT_INCOMPLETE",
    "*",
    "integrity.*",
    "no.such_rule",
)


@both(fast=40, slow=800)
def test_waivers_never_set_aside_what_may_not_be(fuzz_root: Path, budget: int) -> None:
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.engine import DECISION_PATH, EmbeddedOpaEngine
    from kfm_gate.policy.waivers import load_waiver_policy, load_waivers

    policy_dir = fuzz_root / "policies"
    policy = load_waiver_policy(policy_dir)
    folder = policy_dir / "waivers"
    original = {p.name: p.read_text() for p in folder.glob("*.yml")}
    engine = EmbeddedOpaEngine(load_policy_set(policy_dir))
    base_input = _decision_input(fuzz_root)

    approvers = st.one_of(
        st.sampled_from(_ROSTER),
        st.sampled_from(_ROSTER).map(lambda a: f"  {a}\t"),
        st.sampled_from(["   ", "--", "", "-", "council", "FAIR-CARE-COUNCIL", "x" * 70]),
        st.text(max_size=20),
    )
    reasons = st.one_of(
        st.sampled_from(["          ", " -- ", "r", "legacy survey before SHAs were kept"]),
        st.text(max_size=40),
    )
    waiver = st.fixed_dictionaries(
        {
            "id": st.just("fuzz-waiver"),
            "scope": st.fixed_dictionaries(
                {
                    "asset": st.sampled_from(["*", "kfm/historic_sites/public", "other/x"]),
                    "rules": st.lists(st.sampled_from(_RULES), min_size=1, max_size=3),
                }
            ),
            "reason": reasons,
            "approver": approvers,
            "created": st.just("2026-11-01"),
            "expires": st.just("2026-12-31"),
        }
    )

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(waiver, st.sampled_from(["unknown_flags", "no_code_ref"]))
    def check(doc: dict[str, Any], violation: str) -> None:
        EXAMPLES["waivers"] += 1
        for name in original:
            (folder / name).unlink(missing_ok=True)
        (folder / "fuzz.yml").write_text(yaml.safe_dump(doc))
        try:
            accepted = load_waivers(policy_dir)
        except InputError as err:
            assert "\n" not in str(err)
            accepted = []
        for w in accepted:
            assert w.approver.strip() in policy.roster
            assert len(w.reason.strip()) >= policy.reason_min_chars
            assert all(policy.waivable(r) for r in w.scope.rules)
        # whatever the loader said, the policy never waives a flags rule, and agrees with it
        inp = copy.deepcopy(base_input)
        inp["waivers"] = [{**doc, "status": "active"}]
        if violation == "unknown_flags":
            inp["flags"]["classification"] = "unknown"
        else:
            inp["request"]["code_ref"] = None
        decision = engine.evaluate(DECISION_PATH, inp)
        if violation == "unknown_flags":
            assert decision["outcome"] == "deny"
            assert not [w for w in decision["waived"] if w["rule"].startswith("flags.")]
        valid_in_rego = not [v for v in decision["violations"] if v["rule"] == "waivers.invalid"]
        assert valid_in_rego == bool(accepted), (doc, decision["violations"])

    try:
        check()
    finally:
        (folder / "fuzz.yml").unlink(missing_ok=True)
        for name, text in original.items():
            (folder / name).write_text(text)
        engine.close()


def _decision_input(root: Path) -> dict[str, Any]:
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector
    from kfm_gate.gate import build_gate

    gate = build_gate(
        root,
        as_of=AS_OF,
        force=True,
        collectors=[ChecksumCollector(), PlacementCollector()],
        aoi_ids=frozenset({"ks-county-20045"}),
    )
    try:
        run = gate.evaluate(dump(make_request(root, params={"probe": "waivers"})))
    finally:
        gate.close()
    doc: dict[str, Any] = copy.deepcopy(run.policy_inputs["decision"])
    return doc


# -- source manifests and registries ---------------------------------------------------------------

#: manifest fields (YAML paths) and their wrong values
MANIFEST_FIELDS: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("rights", "redistribution_allowed"): _not_bool(),
    ("rights", "rights_status"): _not_enum(
        ("verified_open", "verified_restricted", "permission_required", "unknown", "noassertion")
    ),
    ("rights", "license_or_terms"): st.one_of(st.integers(), st.booleans(), st.lists(st.text())),
    ("sensitivity_default",): _not_enum(SENSITIVITY_ORDER),
    ("flags", "indigenous_rights_flag"): _not_bool(),
    ("flags", "classification"): _not_enum(CLASSIFICATION_ORDER),
    ("flags", "licenses"): _not_str_list(),
    ("watermark",): _not_day(),
}


@both(fast=40, slow=1000)
def test_source_manifests_are_strict(tmp_path_factory: pytest.TempPathFactory, budget: int) -> None:
    from kfm_gate.orchestration.sources import read_manifest

    folder = tmp_path_factory.mktemp("manifests")
    base = yaml.safe_load((REPO / "data/sources/ks_survey_nc.yml").read_text())

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(sorted(MANIFEST_FIELDS)).flatmap(
            lambda p: st.tuples(st.just(p), MANIFEST_FIELDS[p])
        ),
        st.booleans(),
    )
    def check(case: tuple[tuple[str, ...], Any], as_yaml_scalar: bool) -> None:
        EXAMPLES["manifests"] += 1
        path, value = case
        doc = copy.deepcopy(base)
        _set(doc, path, value)
        text = yaml.safe_dump(doc, sort_keys=False)
        if as_yaml_scalar and isinstance(value, str) and value.strip() and "\n" not in value:
            # the value unquoted, as a person would type it (``yes``, ``no``, ``off``...)
            key = path[-1]
            text = re.sub(
                rf"^(\s*{key}): .*$",
                lambda m: f"{m.group(1)}: {value.strip()}",
                text,
                count=1,
                flags=re.M,
            )
        manifest = folder / "ks_survey_nc.yml"
        manifest.write_text(text)
        try:
            read = read_manifest(manifest)[0]
        except InputError as err:
            assert "\n" not in str(err)
            return
        # accepted only when strict YAML itself gave a value of the right type, kept exactly
        got: Any = read.to_json_dict()
        given_value: Any = load_yaml(text, "manifest")
        for part in path:
            got, given_value = got[part], given_value[part]
        assert got == given_value, (path, value, given_value, got)
        if path[-1] in ("redistribution_allowed", "indigenous_rights_flag"):
            assert type(given_value) is bool

    check()


ZONE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "indigenous_rights_flag": _not_bool(),
    "schematic": _not_bool(),
    "demo": _not_bool(),
    "classification": _not_enum(CLASSIFICATION_ORDER),
    "sensitivity": _not_enum(SENSITIVITY_ORDER),
    "care_class": _not_enum(CARE_ORDER),
    "tk_labels": st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), min_size=1)),
    "kind": _not_enum(("tribal_area", "sensitive_site")),
    "masking_tier": _not_enum(("public", "community", "sensitive", "sacred")),
    "buffer_m": st.one_of(st.text(max_size=5), st.booleans(), st.integers(100_001, 10**9)),
}


@both(fast=30, slow=400)
def test_registries_are_strict(tmp_path_factory: pytest.TempPathFactory, budget: int) -> None:
    from kfm_gate.geo.registry import load_aoi_registry, load_zone_registry

    folder = tmp_path_factory.mktemp("registries")
    zones = json.loads((REPO / "data/aoi/zone_registry.geojson").read_text())
    aois = json.loads((REPO / "data/aoi/aoi_registry.geojson").read_text())
    aois["features"] = aois["features"][:3]

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from(sorted(ZONE_FIELDS)).flatmap(
            lambda name: st.tuples(st.just(name), ZONE_FIELDS[name])
        ),
        st.integers(0, 2),
    )
    def check(case: tuple[str, Any], row: int) -> None:
        EXAMPLES["registries"] += 1
        name, value = case
        doc = copy.deepcopy(zones)
        doc["features"][row]["properties"][name] = value
        path = folder / "zone_registry.geojson"
        path.write_text(json.dumps(doc))
        with pytest.raises(InputError) as info:
            load_zone_registry(path)
        assert name in str(info.value) and "\n" not in str(info.value)
        if name in ("classification", "sensitivity", "care_class"):
            adoc = copy.deepcopy(aois)
            adoc["features"][row]["properties"]["flags"][name] = value
            apath = folder / "aoi_registry.geojson"
            apath.write_text(json.dumps(adoc))
            with pytest.raises(InputError, match=name):
                load_aoi_registry(apath)

    check()


# -- candidates through the whole gate --------------------------------------------------------------

_PROP_NAMES = st.sampled_from(
    ["name", "notes", "lon", "lat", "x", "y", "site_id", "feature_id", "where", "wkt", "geom"]
)
_COORD = st.one_of(
    st.floats(-200, 200, allow_nan=False), st.integers(-200, 200), st.text(max_size=6), st.none()
)
_GEOMETRY = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("Point"), "coordinates": st.lists(_COORD, max_size=3)}),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["LineString", "Polygon", "Circle", "MultiPoint"]),
            "coordinates": st.lists(st.lists(_COORD, max_size=3), max_size=4),
        }
    ),
    _JSON,
)
_FEATURE = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Feature", "Feature", "feature"]),
        "id": st.one_of(st.text(max_size=6), st.integers(0, 9), st.none()),
        "properties": st.one_of(st.dictionaries(_PROP_NAMES, _JSON, max_size=5), _JSON),
        "geometry": _GEOMETRY,
    }
)
_GEOJSON = st.one_of(
    st.builds(
        lambda feats: {"type": "FeatureCollection", "features": feats},
        st.lists(_FEATURE, max_size=6),
    ),
    _JSON,
).map(lambda d: json.dumps(d).encode())
_CSV = st.builds(
    lambda header, rows: (
        ",".join(header) + "\n" + "\n".join(",".join(r[: len(header)]) for r in rows) + "\n"
    ).encode(),
    st.lists(_PROP_NAMES, min_size=1, max_size=5, unique=True),
    st.lists(
        st.lists(
            st.one_of(st.text(alphabet="0123456789.-, abc\"'", max_size=10), st.just("")),
            min_size=1,
            max_size=5,
        ),
        max_size=6,
    ),
)


@pytest.fixture(scope="module")
def full_gate(fuzz_root: Path) -> Iterator[Any]:
    from kfm_gate.runtime import build_default_gate

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KFM_MASK_KEY", "fuzz-suite-masking-key-0123456789abcdef")
        gate = build_default_gate(fuzz_root, as_of=AS_OF)
        yield gate
        gate.close()


@both(fast=12, slow=250)
def test_arbitrary_candidates_never_crash_the_gate(
    fuzz_root: Path, full_gate: Any, budget: int
) -> None:
    """GeoJSON and CSV candidates of any shape: a decision every time, never an exception,
    and an ``error`` names what was wrong on one line."""
    part = "data/processed/survey/historic_sites/ks-county-20045/2026-11-01"

    @settings(max_examples=budget, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.tuples(st.just("geojson"), _GEOJSON), st.tuples(st.just("csv"), _CSV)))
    def check(case: tuple[str, bytes]) -> None:
        EXAMPLES["candidates"] += 1
        kind, content = case
        name = f"fuzz.{kind}"
        path = fuzz_root / part / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        media = "application/geo+json" if kind == "geojson" else "text/csv"
        doc = make_request(
            fuzz_root,
            write=False,
            outputs=[{"path": f"{part}/{name}", "sha256": sha(content), "media_type": media}],
        )
        run = full_gate.evaluate(dump(doc))
        assert run.decision.outcome in ("allow", "deny", "quarantine", "error")
        if run.decision.outcome == "error":
            assert run.decision.error and "\n" not in run.decision.error
        shutil.rmtree(fuzz_root / "data/processed", ignore_errors=True)

    check()


def test_a_clean_candidate_still_allows(fuzz_root: Path, full_gate: Any) -> None:
    """The properties above are not vacuous: the same gate allows a good partition."""
    doc = make_request(fuzz_root, content=SITES, flags=public_flags(), params={"clean": 1})
    run = full_gate.evaluate(dump(doc))
    assert run.decision.outcome == "allow", run.decision.violations
