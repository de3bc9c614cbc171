"""The test server fixture: a skip only where a missing server is allowed, a database per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.state.server import DEFAULT_URL, URL_ENV, probe, server_check, with_database


def test_missing_server_is_required_in_ci_and_when_named() -> None:
    assert not server_check({}).must_exist
    assert server_check({}).url == DEFAULT_URL
    assert server_check({"CI": "true"}).must_exist
    named = server_check({URL_ENV: "postgresql://u@127.0.0.1:1/x"})
    assert named.must_exist and named.url == "postgresql://u@127.0.0.1:1/x"


def test_probe_names_why_a_server_does_not_answer() -> None:
    problem = probe("postgresql://postgres@127.0.0.1:1/postgres", timeout=1)
    assert problem is not None and "127.0.0.1" in problem


def test_with_database_keeps_user_host_and_port() -> None:
    assert (
        with_database("postgresql://postgres@127.0.0.1:54329/postgres", "kfm_x")
        == "postgresql://postgres@127.0.0.1:54329/kfm_x"
    )


def test_each_test_gets_an_empty_database_of_its_own(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert name is not None and name[0].startswith("kfm_test_")
    assert tables == (0,)


def test_the_database_is_dropped_after_the_test(postgres_server: str) -> None:
    from tests.state.server import scratch_database

    with scratch_database(postgres_server) as url:
        name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    assert row == (0,)


def _run_fixture_test(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """pytest in a child process on one test that needs the server, with ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", URL_ENV, "KFM_PG_PORT")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            f"{Path(__file__).name}::test_each_test_gets_an_empty_database_of_its_own",
        ],
        cwd=Path(__file__).parent,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_server_a_local_run_skips_with_the_reason() -> None:
    done = _run_fixture_test({"KFM_PG_PORT": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout.strip().splitlines()[-1]
    assert "no PostgreSQL server at postgresql://postgres@127.0.0.1:1/postgres" in done.stdout
    assert "tools/postgres.sh start" in done.stdout


@pytest.mark.parametrize(
    "env",
    [
        {"CI": "true", "KFM_PG_PORT": "1"},
        {URL_ENV: "postgresql://postgres@127.0.0.1:1/postgres"},
    ],
    ids=["ci", "named-url"],
)
def test_without_server_ci_and_a_named_url_fail_instead_of_skipping(env: dict[str, str]) -> None:
    done = _run_fixture_test(env)
    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert "1 error" in summary and "skipped" not in summary, summary
    assert "required: CI=true or KFM_TEST_POSTGRES_URL set" in done.stdout
