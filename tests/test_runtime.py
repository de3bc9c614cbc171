"""The default assembly of a gate: options and missing context (issue #12, items 7 and 9)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# -- explicit settings and missing context (issue #12, items 7 and 9) ----------------------------


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"opa_timeout": 3}, "'opa_timeout' is not an option"),
        ({"engine": "embeded"}, "engine 'embeded' is unknown"),
        ({"engine": "opa"}, "needs opa_url"),
        ({"engine": "opa", "opa_url": "http://h:1", "opa_timeout_s": "5"}, "not a positive number"),
        ({"engine": "opa", "opa_url": "http://h:1", "opa_timeout_s": 0}, "not a positive number"),
        ({"geo.invalid_geometry": "fix"}, "geo.invalid_geometry 'fix' is unknown"),
        ({"max_file_bytes": "1GB"}, "max_file_bytes '1GB' is not a positive integer"),
    ],
)
def test_wrong_gate_options_are_errors(
    tmp_path: Path, options: dict[str, object], fragment: str
) -> None:
    from kfm_gate.errors import ConfigError
    from kfm_gate.runtime import build_default_gate
    from tests.helpers import scratch_repo

    root = scratch_repo(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        build_default_gate(root, options=options)


def test_a_repository_without_registries_is_an_error_not_a_skip(tmp_path: Path) -> None:
    """Without data/aoi every geo check was skipped and an in-zone site was allowed."""
    import datetime as dt
    import shutil

    from kfm_gate.runtime import build_default_gate
    from tests.helpers import dump, make_request, scratch_repo

    root = scratch_repo(tmp_path)
    shutil.rmtree(root / "data/aoi")
    gate = build_default_gate(root, as_of=dt.date(2026, 11, 3))
    try:
        run = gate.evaluate(dump(make_request(root)))
    finally:
        gate.close()
    assert run.decision.outcome == "error"
    assert "no AOI registry" in (run.decision.error or "")
    assert run.decision.reason_codes == ("GATE_CONFIG_INVALID",)
