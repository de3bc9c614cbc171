"""The embedded OPA in a child process (issue #12, item 4): same answers as in-process, a
deadline for every evaluation, a new child after a failure."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kfm_gate.errors import PolicyCompileError, PolicyDeadlineError, PolicyEvalError
from kfm_gate.policy import EmbeddedOpaEngine, load_policy_set
from kfm_gate.policy.bundle import PolicySet
from kfm_gate.policy.engine import check_sections
from kfm_gate.policy.worker import ProcessOpaEngine

SLOW = """package kfm.slow

default fast := 1

fast := 2 if input.go == "fast"

slow := count([x | some i in numbers.range(1, 10000); some j in numbers.range(1, 10000); x := i * j])
"""


@pytest.fixture
def slow_policies(tmp_path: Path) -> PolicySet:
    folder = tmp_path / "pol"
    (folder / "kfm").mkdir(parents=True)
    (folder / "kfm/slow.rego").write_text(SLOW)
    return load_policy_set(folder)


def test_answers_like_the_in_process_engine(slow_policies: PolicySet) -> None:
    with ProcessOpaEngine(slow_policies) as child, EmbeddedOpaEngine(slow_policies) as local:
        for doc in ({}, {"go": "fast"}, {"go": 1}):
            assert child.evaluate("kfm.slow.fast", doc) == local.evaluate("kfm.slow.fast", doc)
        with pytest.raises(PolicyEvalError, match="undefined"):
            child.evaluate("kfm.slow.missing", {})


def test_an_evaluation_past_its_deadline_is_stopped(slow_policies: PolicySet) -> None:
    engine = ProcessOpaEngine(slow_policies, deadline_s=0.5)
    try:
        start = time.monotonic()
        with pytest.raises(PolicyDeadlineError, match=r"within 0\.5 s \(limit policy_eval_s"):
            engine.evaluate("kfm.slow.slow", {})
        assert time.monotonic() - start < 5
        assert engine.restarts == 1
        assert engine.evaluate("kfm.slow.fast", {"go": "fast"}) == 2  # a new child answers
        assert engine.restarts == 2
    finally:
        engine.close()


def test_a_dead_child_is_replaced(slow_policies: PolicySet) -> None:
    with ProcessOpaEngine(slow_policies) as engine:
        assert engine.evaluate("kfm.slow.fast", {}) == 1
        proc = engine._proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert engine.evaluate("kfm.slow.fast", {}) == 1
        assert engine.restarts == 2


def test_compile_errors_keep_their_location(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    (folder / "kfm").mkdir(parents=True)
    (folder / "kfm/bad.rego").write_text("package kfm.bad\n\ndeny[msg] {\n  msg := 1\n}\n")
    with pytest.raises(PolicyCompileError) as info:
        ProcessOpaEngine(load_policy_set(folder))
    assert info.value.location == "kfm/bad.rego:3"
    assert "\n" not in str(info.value)


def test_a_section_the_rules_read_must_exist(tmp_path: Path) -> None:
    folder = tmp_path / "pol"
    (folder / "kfm").mkdir(parents=True)
    (folder / "kfm/p.rego").write_text("package kfm.p\n\nx := data.kfm.params.limits.max\n")
    with pytest.raises(Exception, match="lacks data section"):
        check_sections(load_policy_set(folder))
    (folder / "data").mkdir()
    (folder / "data/limits.json").write_text('{"max": 3}')
    check_sections(load_policy_set(folder))
