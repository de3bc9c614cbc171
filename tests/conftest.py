"""Test-wide fixtures: no network, a scratch repository root per test."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (
        host.startswith("127.") or host in ("localhost", "::1") or self.family == socket.AF_UNIX
    ):
        return _real_connect(self, address)
    raise RuntimeError(f"network blocked in tests: connect to {address!r}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture(autouse=True)
def _mask_key(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A throw-away masking key file outside the repository, never the user's own (a named
    key file must exist: only the default one is ever created)."""
    import secrets

    monkeypatch.delenv("KFM_MASK_KEY", raising=False)
    path = tmp_path_factory.mktemp("mask-key") / "mask.key"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    monkeypatch.setenv("KFM_MASK_KEY_FILE", str(path))


@pytest.fixture
def repo_root() -> Path:
    """The project's own checkout (read-only use)."""
    return REPO


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL server (tests/state/server.py): skipped with the
    reason when none answers locally; a failure in CI or when KFM_TEST_POSTGRES_URL is set."""
    from tests.state.server import START_HINT, probe, server_check

    check = server_check()
    problem = probe(check.url)
    if problem is not None:
        reason = f"no PostgreSQL server at {check.url} ({problem}): {START_HINT}"
        if check.must_exist:
            pytest.fail(reason + " [required: CI=true or KFM_TEST_POSTGRES_URL set]")
        pytest.skip(reason)
    return check.url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped after the test); a libpq URL."""
    from tests.state.server import scratch_database

    with scratch_database(postgres_server) as url:
        yield url
