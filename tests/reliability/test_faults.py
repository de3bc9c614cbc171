"""The fault suite (issue #12): every registered fault case closes.

Each case of :mod:`tests.reliability.faults` injects one failure (engine, OPA server,
collector, suite, registry, waiver, request, setting, disk) into a scratch repository; the
gate must answer outcome ``error`` (or the command exit 2, or the loader refuse the
document) with one clear line, no traceback, and nothing published.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.faults import FAULTS, run_fault

#: cases that start Great Expectations or a second policy engine: the slow suite runs them
SLOW = frozenset(
    {
        "embedded-evaluation-past-its-deadline",
        "quality-suite-corrupt",
        "quality-suite-missing",
        "aoi-registry-missing",
        "mask-key-file-named-but-missing",
        "quality-worker-switch-wrong",
        "disk-full-while-masking",
        "disk-full-while-recording",
        "runs-folder-unwritable",
        "runs-folder-is-a-file",
        "aoi-registry-corrupt",
        "zone-registry-flag-as-string",
    }
)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(FAULTS)],
)
def test_fault_case_closes(name: str, tmp_path: Path) -> None:
    result = run_fault(name, tmp_path)
    assert result.closed, (name, result)


def test_registry_is_large_enough() -> None:
    assert len(FAULTS) >= 40
