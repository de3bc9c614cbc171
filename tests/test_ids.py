from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kfm_gate import ids
from kfm_gate.errors import InputError, PartitionKeyError


def test_canonical_json_sorts_keys_and_normalizes_numbers() -> None:
    assert (
        ids.canonical_json({"b": 1.0, "a": [True, None, "é"]})
        == '{"a":[true,null,"é"],"b":1}'.encode()
    )


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(InputError, match="canonical JSON"):
        ids.canonical_json({"x": float("nan")})


def test_digest_ignores_key_order() -> None:
    assert ids.digest({"a": 1, "b": 2}) == ids.digest({"b": 2, "a": 1})
    assert ids.DIGEST_RE.match(ids.digest({"a": 1}))


def _rid(**kw: object) -> str:
    base: dict[str, object] = dict(
        asset_key="kfm/a",
        aoi_key="ks-county-20045",
        time_key="2026-11-01",
        input_checksums={"x": "sha256:" + "1" * 64},
        code_ref="abc",
        params={"k": 1},
        policy_digest="sha256:" + "2" * 64,
    )
    base.update(kw)
    return ids.run_id(**base)  # type: ignore[arg-type]


def test_run_id_is_deterministic_and_sensitive_to_each_part() -> None:
    first = _rid()
    assert first == _rid()
    assert ids.ID_RE.match(first) and first.startswith("run:kfm-gate:")
    for change in (
        {"asset_key": "kfm/b"},
        {"aoi_key": "ks-county-20001"},
        {"time_key": "2026-11-02"},
        {"input_checksums": {"x": "sha256:" + "3" * 64}},
        {"code_ref": "def"},
        {"params": {"k": 2}},
        {"policy_digest": "sha256:" + "4" * 64},
    ):
        assert _rid(**change) != first, change


@pytest.mark.parametrize("value", ["2026-11-01", "2024-02-29"])
def test_time_key_accepts_real_days(value: str) -> None:
    assert ids.validate_time_key(value).isoformat() == value


@pytest.mark.parametrize(
    "value", ["2026-02-30", "2026-13-01", "20261101", "2026-1-1", "yesterday", ""]
)
def test_time_key_refuses_non_dates(value: str) -> None:
    with pytest.raises(PartitionKeyError, match="time_key"):
        ids.validate_time_key(value)


def test_aoi_key_must_be_in_registry() -> None:
    assert ids.validate_aoi_key("ks-county-20045", {"ks-county-20045"}) == "ks-county-20045"
    with pytest.raises(PartitionKeyError, match="not in the AOI registry"):
        ids.validate_aoi_key("ks-county-99999", {"ks-county-20045"})
    with pytest.raises(PartitionKeyError, match="registry id"):
        ids.validate_aoi_key("../etc", None)


def test_partition_key_round_trip() -> None:
    key = ids.partition_key("ks-county-20045", "2026-11-01")
    assert key == "ks-county-20045|2026-11-01"
    assert ids.parse_partition_key(key) == ("ks-county-20045", "2026-11-01")
    with pytest.raises(PartitionKeyError):
        ids.parse_partition_key("ks-county-20045")


def test_run_folder_name_has_no_colons() -> None:
    assert ids.run_folder_name("run:kfm-gate:abc") == "run_kfm-gate_abc"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(max_codepoint=127), max_size=8), children, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_canonical_json_equals_rfc8785(value: object) -> None:
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except Exception:  # rfc8785 refuses it (lone surrogate): so must we
        with pytest.raises(InputError):
            ids.canonical_json(value)
        return
    assert ids.canonical_json(value) == expected


def test_fast_path_is_taken_for_plain_documents() -> None:
    assert ids._plain({"a": [1, "x", None, True, {"b": -3}]})
    assert not ids._plain({"a": 1.0}) and not ids._plain({"é": 1}) and not ids._plain(2**60)


def test_canonical_json_control_characters_and_non_ascii_keys() -> None:
    import rfc8785

    doc = {
        "\u00e9": 1,
        "e": '\x00\x01\x1f\b\f\n\r\t"\\/\x7f\u2028é\U0001f600',
        "\U0001f600": 2,
        "\uffff": 3,
    }
    assert ids.canonical_json(doc) == rfc8785.dumps(doc)
    assert ids.canonical_json({"a": 1.5, "b": 1e21}) == rfc8785.dumps({"a": 1.5, "b": 1e21})


def test_a_lone_surrogate_is_refused_like_rfc8785() -> None:
    """The plain fast path and rfc8785 both refuse text that is not valid Unicode."""
    import rfc8785

    for value in ({"a": "\ud800"}, ["x\udfff"]):
        with pytest.raises(Exception):  # noqa: B017 - rfc8785's own error type
            rfc8785.dumps(value)
        with pytest.raises(InputError, match="canonical JSON"):
            ids.canonical_json(value)
