"""``KfmGateResource``: the gate as a Dagster resource, validated before any step runs."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from kfm_gate.errors import ConfigError
from kfm_gate.gate import Gate

ENGINES = ("embedded", "server")
_KEY_SOURCE = re.compile(r"^(env|env-or-file|file:.+)$")
_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d+)?(/.*)?$")
_GATES: dict[tuple[Any, ...], Gate] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class GateConfig:
    """The resource's settings, checked and resolved."""

    root: Path
    policy_dir: Path
    engine: str
    opa_url: str | None
    key_source: str
    as_of: dt.date | None
    force: bool
    code_ref: str | None

    def options(self) -> dict[str, Any]:
        """Options handed to the gate (recorded in each run's config.json; no secret)."""
        opts: dict[str, Any] = {"engine": self.engine, "key_source": self.key_source}
        if self.opa_url:
            opts["opa_url"] = self.opa_url
        return opts


class KfmGateResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The kfm-gate of one repository, shared by the assets and the gate checks.

    Fails fast: a bad setting raises :class:`~kfm_gate.errors.ConfigError` when a run starts
    (and when the definitions load), naming the setting and the fix.
    """

    root: str = "."
    policy_dir: str = "policies"
    engine: str = "embedded"
    opa_url: str | None = None
    key_source: str = "env-or-file"
    as_of: str | None = None
    force: bool = False
    code_ref: str | None = None

    _config: GateConfig | None = PrivateAttr(default=None)

    def resolve(self) -> GateConfig:
        """Check every setting; ConfigError with the fix on the first bad one."""
        if self._config is not None:
            return self._config
        root = Path(self.root).expanduser().resolve()
        if not root.is_dir():
            raise ConfigError(
                f"kfm_gate.root {self.root!r} is not a folder: give the repository root"
            )
        policy_dir = Path(self.policy_dir).expanduser()
        policy_dir = (policy_dir if policy_dir.is_absolute() else root / policy_dir).resolve()
        if not policy_dir.is_dir() or not any(policy_dir.rglob("*.rego")):
            raise ConfigError(
                f"kfm_gate.policy_dir {str(policy_dir)!r} holds no Rego policy: point it to the "
                "council's policies/ folder"
            )
        if self.engine not in ENGINES:
            raise ConfigError(
                f"kfm_gate.engine {self.engine!r} is unknown: use one of {', '.join(ENGINES)}"
            )
        if self.engine == "server":
            if not self.opa_url or not _URL.match(self.opa_url):
                raise ConfigError(
                    f"kfm_gate.opa_url {self.opa_url!r} is not an http(s) URL: engine 'server' "
                    "needs the OPA REST endpoint, e.g. http://127.0.0.1:8181"
                )
        elif self.opa_url:
            raise ConfigError(
                "kfm_gate.opa_url is set but engine is 'embedded': set engine: server or "
                "remove opa_url"
            )
        if not _KEY_SOURCE.match(self.key_source):
            raise ConfigError(
                f"kfm_gate.key_source {self.key_source!r} is unknown: use 'env' (KFM_MASK_KEY), "
                "'file:<path outside the repository>' or 'env-or-file'"
            )
        if self.key_source.startswith("file:"):
            key_path = Path(self.key_source[5:]).expanduser().resolve()
            if key_path == root or root in key_path.parents:
                raise ConfigError(
                    f"kfm_gate.key_source {key_path} is inside the repository {root}: a masking "
                    "key must never be committed; keep it outside"
                )
        if self.key_source == "env" and not os.environ.get("KFM_MASK_KEY"):
            raise ConfigError(
                "kfm_gate.key_source is 'env' but KFM_MASK_KEY is not set: export it (at least "
                "32 characters) or use key_source 'env-or-file'"
            )
        _check_key_file(self.key_source)
        _check_context(root, policy_dir)
        as_of: dt.date | None = None
        if self.as_of:
            try:
                as_of = dt.date.fromisoformat(self.as_of)
            except ValueError as err:
                raise ConfigError(
                    f"kfm_gate.as_of {self.as_of!r} is not a YYYY-MM-DD day: {err}"
                ) from err
        config = GateConfig(
            root=root,
            policy_dir=policy_dir,
            engine=self.engine,
            opa_url=self.opa_url,
            key_source=self.key_source,
            as_of=as_of,
            force=self.force,
            code_ref=self.code_ref,
        )
        self._config = config
        return config

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.resolve()

    @property
    def repo_root(self) -> Path:
        return self.resolve().root

    def gate(self) -> Gate:
        """The gate (built once per process and settings, then reused across runs)."""
        cfg = self.resolve()
        stamp = _policy_stamp(cfg.policy_dir)
        key = (cfg, stamp)
        with _LOCK:
            gate = _GATES.get(key)
            if gate is None:
                from kfm_gate.runtime import build_default_gate

                for old_key in [k for k in _GATES if k[0] == cfg]:
                    _GATES.pop(old_key).close()  # the policies changed: drop the old engine
                gate = build_default_gate(
                    cfg.root,
                    policy_dir=cfg.policy_dir,
                    as_of=cfg.as_of,
                    force=cfg.force,
                    options=cfg.options(),
                )
                _GATES[key] = gate
        return gate


def _check_key_file(key_source: str) -> None:
    """A named key file (``file:<path>``, or ``KFM_MASK_KEY_FILE`` with ``env-or-file``) must
    exist: only the default key file is ever created."""
    named = key_source[5:] if key_source.startswith("file:") else None
    if key_source == "env-or-file" and not os.environ.get("KFM_MASK_KEY"):
        named = os.environ.get("KFM_MASK_KEY_FILE") or None
    if named and not Path(named).expanduser().is_file():
        raise ConfigError(
            f"the masking key file {named} (kfm_gate.key_source {key_source!r}) does not exist: "
            "a named key file is never created; restore it or fix the path"
        )


def _check_context(root: Path, policy_dir: Path) -> None:
    """Refuse a repository the gate could not decide in: registries, quality suites, the
    policy data its rules read, waivers that validate, a valid quality worker switch."""
    from kfm_gate.errors import KfmGateError
    from kfm_gate.evidence.worker import worker_enabled
    from kfm_gate.geo.registry import AOI_FILE, ZONE_FILE
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.engine import check_sections
    from kfm_gate.policy.waivers import load_waivers

    aoi_dir = root / "data" / "aoi"
    missing = [name for name in (AOI_FILE, ZONE_FILE) if not (aoi_dir / name).is_file()]
    if missing:
        raise ConfigError(
            f"kfm_gate.root {root} has no {' or '.join(missing)} under data/aoi/: without the "
            "AOI and sensitive-zone registries no geo check can run; restore them "
            "(python -m kfm_gate.geo.build_registry)"
        )
    if not (policy_dir / "quality").is_dir():
        raise ConfigError(
            f"kfm_gate.policy_dir {policy_dir} has no quality/ folder: the datasets' Great "
            "Expectations suites live there"
        )
    try:
        check_sections(load_policy_set(policy_dir))
        load_waivers(policy_dir)
        worker_enabled()
    except KfmGateError as err:
        raise ConfigError(f"kfm_gate: {err}") from err


def _policy_stamp(policy_dir: Path) -> tuple[int, int]:
    """Changes when any policy file changes (size/mtime), so a stale engine is not reused."""
    count, acc = 0, 0
    for path in policy_dir.rglob("*"):
        if path.is_file():
            st = path.stat()
            count += 1
            acc ^= hash((str(path), st.st_mtime_ns, st.st_size))
    return count, acc


def clear_gate_cache() -> None:
    """Close and forget every cached gate (tests, long-lived processes after a reload)."""
    with _LOCK:
        for gate in _GATES.values():
            gate.close()
        _GATES.clear()
