"""The Dagster instance kfm-gate runs in, and the tags its runs carry.

A Dagster home's ``dagster.yaml`` belongs to whoever deploys: :func:`prepare_home` writes one
(sqlite storage, telemetry off) only where there is none, and never rewrites an existing one.
An existing file is checked instead (:func:`check_dagster_yaml`): it must parse, and a
PostgreSQL storage must name the psycopg2 driver in its SQLAlchemy URL,
``postgresql+psycopg2://``. With SQLAlchemy 2.1 and psycopg 3 installed (kfm-gate's own
driver), a bare ``postgresql://`` selects psycopg 3, and dagster-postgres' first event write
then fails (``syntax error at or near "$1"`` on ``NOTIFY``): a wrong explicit setting fails
here, with the fix, instead of in the middle of a run.

Every partition run carries the tag ``kfm/aoi`` = its AOI id (:func:`partition_tags`: the
source sensor and the runner both set it), so a ``QueuedRunCoordinator`` with
``tag_concurrency_limits: [{key: kfm/aoi, value: {applyLimitPerUniqueValue: true}, limit: 1}]``
never runs two partitions of one AOI at once (``docs/deployment.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kfm_gate.errors import ConfigError

if TYPE_CHECKING:
    import dagster as dg

DAGSTER_YAML = "dagster.yaml"
#: what a new home gets: Dagster's default storage (sqlite in the home), no telemetry
DEFAULT_DAGSTER_YAML = "telemetry:\n  enabled: false\n"
AOI_TAG = "kfm/aoi"
PG_SCHEME = "postgresql+psycopg2"
_STORAGE_KEYS = ("run_storage", "event_log_storage", "schedule_storage")


def partition_tags(aoi_key: str) -> dict[str, str]:
    """The run tags of one partition run: ``{"kfm/aoi": <aoi id>}``."""
    return {AOI_TAG: aoi_key}


@dataclass(frozen=True)
class InstanceConfig:
    """What a home's ``dagster.yaml`` says, in words safe to print (never a password)."""

    path: Path
    storage: str  # sqlite (Dagster's default) | postgres | <module> of a custom storage
    location: str | None = None  # host:port/database of a PostgreSQL storage
    run_coordinator: str | None = None  # class name, when set
    max_concurrent_runs: int | None = None

    def describe(self) -> str:
        where = f" at {self.location}" if self.location else ""
        queue = ""
        if self.run_coordinator:
            limit = (
                f", max_concurrent_runs {self.max_concurrent_runs}"
                if self.max_concurrent_runs is not None
                else ""
            )
            queue = f"; {self.run_coordinator}{limit}"
        return f"{self.path} ({self.storage} storage{where}{queue})"


def _resolve(value: object, setting: str, environ: Mapping[str, str]) -> str:
    """A string setting, or ``{env: NAME}`` read from the environment (as Dagster does)."""
    if isinstance(value, Mapping) and set(value) == {"env"}:
        name = str(value["env"])
        if not environ.get(name):
            raise ConfigError(f"{setting} reads ${name}, which is not set: export it")
        return environ[name]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{setting} must be a string or {{env: NAME}}, not {value!r}")
    return value


def _check_postgres(config: object, setting: str, path: Path, environ: Mapping[str, str]) -> str:
    """``host:port/database`` of a dagster-postgres storage config; a ConfigError naming the
    setting when its URL would not select the psycopg2 driver."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{path}: {setting} must be a mapping with postgres_url or postgres_db")
    if "postgres_url" in config:
        url = _resolve(config["postgres_url"], f"{path}: {setting}.postgres_url", environ)
        parts = urlsplit(url)
        scheme, shown = parts.scheme, f"{setting}.postgres_url"
        location = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
    elif isinstance(config.get("postgres_db"), Mapping):
        db = config["postgres_db"]
        scheme, shown = str(db.get("scheme", "postgresql")), f"{setting}.postgres_db.scheme"
        host = _resolve(db.get("hostname"), f"{path}: {setting}.postgres_db.hostname", environ)
        name = _resolve(db.get("db_name"), f"{path}: {setting}.postgres_db.db_name", environ)
        location = f"{host}:{db.get('port', 5432)}/{name}"
    else:
        raise ConfigError(f"{path}: {setting} needs postgres_url or postgres_db")
    if scheme != PG_SCHEME:
        raise ConfigError(
            f"{path}: {shown} uses the scheme {scheme!r}; SQLAlchemy then picks a driver "
            "(psycopg 3 where it is installed, as with kfm-gate) with which dagster-postgres "
            'fails on its first event write (NOTIFY ... "$1"): use '
            f"{PG_SCHEME}://user:password@host:port/database"
            + (" (postgres_db: scheme: postgresql+psycopg2)" if "postgres_db" in shown else "")
        )
    return location


def check_dagster_yaml(path: Path, environ: Mapping[str, str] | None = None) -> InstanceConfig:
    """Read and check an existing ``dagster.yaml`` (see the module docstring); never writes."""
    import yaml

    env = os.environ if environ is None else environ
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path} must hold a mapping of Dagster instance settings")
    storage, location = "sqlite", None
    unified = doc.get("storage")
    if isinstance(unified, Mapping) and "postgres" in unified:
        storage = "postgres"
        location = _check_postgres(unified["postgres"], "storage.postgres", path, env)
    elif isinstance(unified, Mapping) and unified:
        storage = str(next(iter(unified)))
    for key in _STORAGE_KEYS:
        section = doc.get(key)
        if isinstance(section, Mapping) and "postgres" in str(section.get("module", "")):
            storage = "postgres"
            location = _check_postgres(section.get("config"), f"{key}.config", path, env)
    coordinator = doc.get("run_coordinator")
    name, max_runs = None, None
    if isinstance(coordinator, Mapping):
        name = str(coordinator.get("class", "")) or None
        cfg = coordinator.get("config")
        if isinstance(cfg, Mapping) and isinstance(cfg.get("max_concurrent_runs"), int):
            max_runs = int(cfg["max_concurrent_runs"])
    return InstanceConfig(path, storage, location, name, max_runs)


def prepare_home(home: Path) -> InstanceConfig:
    """The home folder, with a ``dagster.yaml``: an existing one is checked and kept byte for
    byte; a missing one is written (sqlite storage in the home, telemetry off)."""
    from kfm_gate.layout import atomic_write

    home.mkdir(parents=True, exist_ok=True)
    cfg = home / DAGSTER_YAML
    if cfg.exists():
        return check_dagster_yaml(cfg)
    atomic_write(cfg, DEFAULT_DAGSTER_YAML.encode("utf-8"))
    return InstanceConfig(cfg, "sqlite")


def open_instance(home: Path | None) -> dg.DagsterInstance:
    """The instance of ``home`` as its ``dagster.yaml`` configures it (written only when
    missing), or an ephemeral in-memory one when ``home`` is None."""
    import dagster as dg

    if home is None:
        return dg.DagsterInstance.ephemeral()
    prepare_home(home)
    return dg.DagsterInstance.from_config(str(home))


def postgres_dagster_yaml(
    url: str | None = None,
    *,
    url_env: str | None = None,
    max_concurrent_runs: int = 2,
    aoi_limit: int = 1,
) -> str:
    """A ``dagster.yaml`` for a deployment on PostgreSQL: the storage at ``url`` (or read
    from ``$url_env`` by Dagster, so no password lands in the file), a QueuedRunCoordinator
    with ``max_concurrent_runs`` and at most ``aoi_limit`` runs per ``kfm/aoi`` value."""
    import yaml

    if (url is None) == (url_env is None):
        raise ConfigError("give exactly one of url and url_env")
    if url is not None and urlsplit(url).scheme != PG_SCHEME:
        raise ConfigError(f"the storage URL must start with {PG_SCHEME}://")
    doc: dict[str, Any] = {
        "storage": {"postgres": {"postgres_url": url if url is not None else {"env": url_env}}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": max_concurrent_runs,
                "tag_concurrency_limits": [
                    {
                        "key": AOI_TAG,
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": aoi_limit,
                    }
                ],
            },
        },
        "telemetry": {"enabled": False},
    }
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return text
