"""The PostgreSQL server of the tests: where it is, whether it answers, a database per test.

The server is the one ``tools/postgres.sh start`` runs (``.ci/run`` starts it before the tests),
or the one ``KFM_TEST_POSTGRES_URL`` names. Without a server the tests that need one are
skipped with the reason, except in CI (``CI=true``) and when ``KFM_TEST_POSTGRES_URL`` is set
explicitly: there a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

URL_ENV = "KFM_TEST_POSTGRES_URL"
#: tools/postgres.sh's default port (KFM_PG_PORT)
DEFAULT_URL = f"postgresql://postgres@127.0.0.1:{os.environ.get('KFM_PG_PORT', '54329')}/postgres"
START_HINT = "start one with `tools/postgres.sh start` (or set KFM_TEST_POSTGRES_URL)"


@dataclass(frozen=True)
class ServerCheck:
    """Where the test server should be, and what to do when it does not answer."""

    url: str
    explicit: bool  # the URL came from KFM_TEST_POSTGRES_URL
    ci: bool  # CI=true

    @property
    def must_exist(self) -> bool:
        return self.ci or self.explicit


def server_check(environ: dict[str, str] | None = None) -> ServerCheck:
    env = os.environ if environ is None else environ
    explicit = bool(env.get(URL_ENV))
    ci = env.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ServerCheck(env.get(URL_ENV) or DEFAULT_URL, explicit, ci)


def probe(url: str, *, timeout: int = 3) -> str | None:
    """None when a connection to ``url`` works, else why not (one line)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as err:
        return (str(err).strip().splitlines() or [type(err).__name__])[0]
    return None


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextmanager
def scratch_database(admin_url: str, prefix: str = "kfm_test") -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped afterwards (its
    connections closed by force: a test that leaked one does not keep the database)."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
