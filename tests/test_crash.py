"""Crash suite: the gate and the publisher stopped at every write, rename and link.

Each scenario runs once with every checkpoint logged (its steps, in order), once cleanly (the
reference bytes), then, for every step n, in a fresh copy of the repository:

* killed there (SIGKILL, a real process: ``tests/crash_child.py``), and
* failed there (ENOSPC injected, in this process);

after which the public state (``data/``) is entirely the old one or entirely the new one (after
the recovery every transaction does first; before it, only while a committed journal is
pending), the ledger verifies, and a plain re-run converges to the reference bytes and ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfm_gate.journal import journal_pending, recover
from kfm_gate.layout import CHECKPOINT_ENV, CHECKPOINT_LOG_ENV, FaultCheckpoints, Layout
from kfm_gate.provenance import Ledger
from tests import crash_child
from tests.helpers import REPO, dump, make_request, scratch_repo
from tests.orchestration.conftest import TEST_POLICY

pytestmark = pytest.mark.slow

#: bookkeeping files that are not the state (locks, the staging area, the spare journal)
_NOT_STATE = (".locks", ".staging")
_NOT_STATE_NAMES = (".journal.spare", ".publish.lock", "ledger.jsonl.lock")


def _tree(root: Path, under: str = "") -> dict[str, bytes]:
    base = root / under if under else root
    if not base.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file()
        and not any(s in p.parts for s in _NOT_STATE)
        and p.name not in _NOT_STATE_NAMES
    }


def _template(base: Path) -> Path:
    """A repository with the stub policy (allow) and one candidate of Douglas County."""
    base.mkdir(parents=True)
    root = scratch_repo(base)
    gate_dir = root / "policies" / "kfm" / "gate"
    shutil.rmtree(gate_dir)
    gate_dir.mkdir()
    (gate_dir / "stub.rego").write_text(TEST_POLICY, encoding="utf-8")
    shutil.rmtree(root / "policies" / "waivers")  # the council's waivers name council rules
    (root / "policies" / "data" / "orchestration_test.json").write_text('{"deny_aois": []}\n')
    (base / crash_child.REQUEST).write_bytes(dump(make_request(root)))
    return root


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template.parent, dest)
    return dest / template.name


def _child(root: Path, scenario: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_child", str(root), scenario],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        timeout=240,
        check=False,
    )


def _in_process(root: Path, scenario: str, step: int) -> None:
    """The scenario with ENOSPC at step ``step``, in this process."""
    import kfm_gate.layout as layout_mod

    checkpoints = FaultCheckpoints("enospc", f"#{step}")
    real = layout_mod.checkpoints_from_env
    layout_mod.checkpoints_from_env = lambda environ=None: checkpoints  # type: ignore[assignment]
    try:
        crash_child.run(root, scenario)
    finally:
        layout_mod.checkpoints_from_env = real  # type: ignore[assignment]
    assert checkpoints.fired, f"step #{step} was never reached"


@contextlib.contextmanager
def _phase(name: str) -> Iterator[None]:
    try:
        yield
    except AssertionError as err:
        raise AssertionError(f"{name}: {err}") from err


def _check(
    root: Path,
    old: dict[str, bytes],
    new: dict[str, bytes],
    reference: dict[str, bytes],
    scenario: str,
    what: str,
) -> None:
    with _phase(what):
        data = _tree(root, "data")
        if not journal_pending(root):
            assert data in (old, new), "the public state is neither the old nor the new one"
        recover(Layout(root))
        assert _tree(root, "data") in (old, new), "after recovery: neither old nor new"
        report = Ledger(root / "mcp" / "ledger.jsonl").verify()
        assert report.ok, report.render_text()
        assert crash_child.run(root, scenario) == 0
        assert _tree(root) == reference, "a plain re-run did not converge to the reference bytes"


def _scenario(tmp_path: Path, scenario: str, before: Path) -> None:
    log = tmp_path / f"{scenario}-steps.txt"
    logged = _copy(before, tmp_path / f"{scenario}-logged")
    done = _child(logged, scenario, {CHECKPOINT_LOG_ENV: str(log)})
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    steps = log.read_text().splitlines()
    assert len(steps) > 10
    assert any(s.startswith("link ") for s in steps) == (scenario == "publish")
    reference = _tree(logged)
    old, new = _tree(before, "data"), _tree(logged, "data")
    assert old != new
    for n, step in enumerate(steps, start=1):
        killed = _copy(before, tmp_path / f"{scenario}-kill-{n}")
        res = _child(killed, scenario, {CHECKPOINT_ENV: f"kill:#{n}"})
        assert res.returncode == -signal.SIGKILL, (n, step, res.stderr.decode()[-1000:])
        _check(killed, old, new, reference, scenario, f"killed at #{n} {step}")
        shutil.rmtree(killed.parent)
        full = _copy(before, tmp_path / f"{scenario}-enospc-{n}")
        _in_process(full, scenario, n)
        _check(full, old, new, reference, scenario, f"ENOSPC at #{n} {step}")
        shutil.rmtree(full.parent)


def test_the_gate_and_the_publisher_stopped_at_every_step(tmp_path: Path) -> None:
    template = _template(tmp_path / "template")
    _scenario(tmp_path, "publish", template)


def test_a_withdrawal_stopped_at_every_step(tmp_path: Path) -> None:
    template = _template(tmp_path / "template")
    published = _copy(template, tmp_path / "published")
    assert crash_child.run(published, "publish") == 0
    _scenario(tmp_path, "withdraw", published)
