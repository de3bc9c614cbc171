from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kfm_gate.errors import ConfigError, ObligationError
from kfm_gate.geo.keys import MaskKey, load_mask_key

REPO = Path(__file__).resolve().parents[2]


def test_env_key_wins(isolated_key_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFM_MASK_KEY", "e" * 40)
    key = load_mask_key(repo_root=REPO)
    assert key.source == "env"
    assert key.secret == b"e" * 40
    assert not isolated_key_env.exists()


def test_empty_env_key_fails_closed(
    isolated_key_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KFM_MASK_KEY", "  ")
    with pytest.raises(ObligationError, match="empty"):
        load_mask_key(repo_root=REPO)


def test_short_key_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        MaskKey(b"short", source="env")


def test_default_key_file_created_once_with_0600_and_announced(
    isolated_key_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = load_mask_key(repo_root=REPO)
    assert first.source == "file"
    mode = stat.S_IMODE(isolated_key_env.stat().st_mode)
    assert mode == 0o600
    second = load_mask_key(repo_root=REPO)
    assert second.secret == first.secret
    assert second.key_id == first.key_id
    err = capsys.readouterr().err
    assert err.count("created a new masking key file") == 1  # announced once
    assert first.key_id in err and first.secret.decode() not in err


def test_named_key_file_that_does_not_exist_is_an_error(
    isolated_key_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """KFM_MASK_KEY_FILE=/nonexistent/mask.key used to create the folder and a new key."""
    named = tmp_path / "nonexistent" / "mask.key"
    monkeypatch.setenv("KFM_MASK_KEY_FILE", str(named))
    with pytest.raises(ConfigError, match="does not exist: a named key file is never created"):
        load_mask_key(repo_root=REPO)
    assert not named.parent.exists()
    assert not isolated_key_env.exists()


def test_missing_key_without_creation_fails_closed(isolated_key_env: Path) -> None:
    with pytest.raises(ObligationError, match="no masking key"):
        load_mask_key(repo_root=REPO, create=False)
    assert not isolated_key_env.exists()


def test_key_file_inside_repository_refused(
    isolated_key_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("HOME", str(repo))
    with pytest.raises(ConfigError, match="inside the repository"):
        load_mask_key(repo_root=repo)
    assert not (repo / ".config").exists()


def test_group_readable_key_file_refused(isolated_key_env: Path) -> None:
    load_mask_key(repo_root=REPO)
    isolated_key_env.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_mask_key(repo_root=REPO)


def test_key_never_in_repr_or_str() -> None:
    secret = "s3cr3t-value-that-must-not-leak-0123456789"
    key = MaskKey(secret.encode(), source="env")
    assert secret not in repr(key)
    assert secret not in str(key)
    assert key.key_id.startswith("blake2b:")
    assert secret not in key.key_id


def test_subkeys_differ_by_label_and_key() -> None:
    a = MaskKey(b"a" * 32, source="env")
    b = MaskKey(b"b" * 32, source="env")
    assert a.subkey("x") != a.subkey("y")
    assert a.subkey("x") != b.subkey("x")
    assert a.subkey("x") == MaskKey(b"a" * 32, source="file").subkey("x")
