from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kfm_gate.errors import ConfigError, PolicyCompileError, PolicyEvalError
from kfm_gate.policy import EmbeddedOpaEngine, load_policy_set
from tests.helpers import REPO


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pol"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_digest_covers_rego_and_data(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"a.rego": "package a\n\nx := 1\n", "data/t.json": '{"k": 1}'})
    first = load_policy_set(root).digest
    assert load_policy_set(root).digest == first
    (root / "data/t.json").write_text('{"k": 2}')
    second = load_policy_set(root).digest
    assert second != first
    (root / "a.rego").write_text("package a\n\nx := 2\n")
    assert load_policy_set(root).digest not in (first, second)


def test_data_is_loaded_under_params(tmp_path: Path) -> None:
    root = _folder(
        tmp_path, {"a.rego": "package a\n\nx := data.kfm.params.t.k\n", "data/t.yml": "k: 7\n"}
    )
    with EmbeddedOpaEngine(load_policy_set(root)) as engine:
        assert engine.evaluate("a.x", {}) == 7


def test_v0_syntax_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"kfm/old.rego": 'package old\n\ndeny[msg] {\n  msg := "x"\n}\n'})
    with pytest.raises(PolicyCompileError) as info:
        EmbeddedOpaEngine(load_policy_set(root))
    assert info.value.location == "kfm/old.rego:3"
    assert "kfm/old.rego:3" in str(info.value)


def test_compile_error_unsafe_var(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"u.rego": "package u\n\nallow if {\n  x == 1\n}\n"})
    with pytest.raises(PolicyCompileError, match=r"u.rego:4"):
        EmbeddedOpaEngine(load_policy_set(root))


def test_undefined_document_is_an_error(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"a.rego": "package a\n\nx if input.y == 1\n"})
    with (
        EmbeddedOpaEngine(load_policy_set(root)) as engine,
        pytest.raises(PolicyEvalError, match="undefined"),
    ):
        engine.evaluate("a.x", {"y": 2})


def test_missing_folder_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy_set(tmp_path / "nope")


def test_baseline_policies_compile() -> None:
    with EmbeddedOpaEngine(load_policy_set(REPO / "policies")) as engine:
        obligations = engine.evaluate(
            "kfm.gate.obligations", {"flags": None, "today": "2026-11-25"}
        )
        assert obligations == []


def test_copy_of_policies_has_same_digest(tmp_path: Path) -> None:
    shutil.copytree(REPO / "policies", tmp_path / "p")
    assert load_policy_set(tmp_path / "p").digest == load_policy_set(REPO / "policies").digest


def test_prepared_documents_compile_at_load_time(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"a.rego": "package a\n\nx := input.y + 1\n"})
    with EmbeddedOpaEngine(load_policy_set(root), prepare=("a.x", "a.missing")) as engine:
        assert engine.evaluate("a.x", {"y": 1}) == 2
    bad = _folder(tmp_path / "bad", {"u.rego": "package u\n\nallow if {\n  x == 1\n}\n"})
    with pytest.raises(PolicyCompileError, match=r"u.rego:4"):
        EmbeddedOpaEngine(load_policy_set(bad), prepare=("u.allow",))
