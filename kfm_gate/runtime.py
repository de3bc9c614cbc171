"""The default assembly of a gate: which collectors and obligation engines run.

Parts whose libraries are heavy are imported here only when a gate is built, never when the
CLI starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfm_gate.errors import ConfigError
from kfm_gate.gate import Gate, GeoContextProvider, build_gate
from kfm_gate.models import PromotionRequest
from kfm_gate.policy.engine import PolicyEngine


def build_geo_provider(registries: Any) -> GeoContextProvider:
    """The gate's geo context: AOI, zones touched (counts only), and their flags to join."""

    def provide(
        request: PromotionRequest, root: Path, memo: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[Any]]:
        from kfm_gate.geo import build_geo_context, read_request_features

        files = [(o.path, root / o.path, o.media_type) for o in request.outputs]
        present = [(rel, path, mt) for rel, path, mt in files if path.is_file()]
        features = read_request_features(present, memo=memo)
        return build_geo_context(request, features, registries)

    return provide


#: the options ``build_default_gate`` understands: a wrong one is an error, never ignored
GATE_OPTIONS: dict[str, str] = {
    "engine": "embedded, opa or server",
    "opa_url": "the OPA server URL (with engine opa/server only)",
    "opa_timeout_s": "seconds for each whole OPA server call (with engine opa/server only)",
    "key_source": "env, env-or-file or file:<path>",
    "geo.invalid_geometry": "repair or refuse",
    "max_file_bytes": "a positive integer",
    "max_cell_chars": "a positive integer",
}


def check_options(opts: Mapping[str, Any]) -> None:
    """ConfigError listing every unknown option and every value of the wrong kind."""
    problems = [f"{k!r} is not an option" for k in sorted(opts) if k not in GATE_OPTIONS]
    engine = opts.get("engine", "embedded")
    if engine not in ("embedded", "opa", "server"):
        problems.append(f"engine {engine!r} is unknown")
    server = engine in ("opa", "server")
    if server and not opts.get("opa_url"):
        problems.append(f"engine {engine!r} needs opa_url (--opa-url URL)")
    for name in ("opa_url", "opa_timeout_s"):
        if name in opts and not server:
            problems.append(f"{name} is set but the engine is {engine!r}: use engine opa")
    timeout = opts.get("opa_timeout_s", 1.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        problems.append(f"opa_timeout_s {timeout!r} is not a positive number of seconds")
    if opts.get("geo.invalid_geometry", "repair") not in ("repair", "refuse"):
        problems.append(f"geo.invalid_geometry {opts['geo.invalid_geometry']!r} is unknown")
    for name in ("max_file_bytes", "max_cell_chars"):
        value = opts.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} {value!r} is not a positive integer")
    if problems:
        known = "; ".join(f"{k}: {v}" for k, v in GATE_OPTIONS.items())
        raise ConfigError(f"gate options: {'; '.join(problems)} (options are {known})")


def missing_registry_provider(aoi_dir: Path) -> GeoContextProvider:
    """A geo context that fails every partition: without the AOI and zone registries no geo
    check can run (sensitive zones, AOI containment), so nothing may be decided."""

    def provide(
        request: PromotionRequest, root: Path, memo: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[Any]]:
        raise ConfigError(
            f"no AOI registry at {aoi_dir}: the geo checks (sensitive zones, AOI, masking) "
            "cannot run without data/aoi/aoi_registry.geojson and zone_registry.geojson; "
            "restore them (python -m kfm_gate.geo.build_registry)"
        )

    return provide


def _server_engine(root: Path, policy_dir: Path | None, opts: Mapping[str, Any]) -> PolicyEngine:
    """The OPA-server engine named by ``options`` (``engine``: ``opa`` or ``server``)."""
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.factory import build_engine

    name = str(opts["engine"])
    if name not in ("opa", "server"):
        raise ConfigError(f"engine {name!r} is unknown: use embedded or opa (with --opa-url)")
    timeout = opts.get("opa_timeout_s")
    return build_engine(
        "opa",
        policies=load_policy_set(policy_dir or root / "policies"),
        opa_url=opts.get("opa_url"),
        timeout_s=None if timeout is None else float(timeout),
    )


def _key_source(root: Path, opts: Mapping[str, Any]) -> Any:
    """The masking-key loader for ``key_source``: ``env``, ``file:<path>`` or ``env-or-file``."""
    import os

    from kfm_gate.geo import load_mask_key

    source = str(opts.get("key_source", "env-or-file"))
    if source == "env-or-file":
        return lambda: load_mask_key(repo_root=root)
    if source == "env":
        only_env = {k: v for k, v in os.environ.items() if k == "KFM_MASK_KEY"}
        return lambda: load_mask_key(repo_root=root, env=only_env, create=False)
    if source.startswith("file:"):
        env = {"KFM_MASK_KEY_FILE": source[5:]}
        return lambda: load_mask_key(repo_root=root, env=env, create=False)
    raise ConfigError(f"key_source {source!r} is unknown: use env, file:<path> or env-or-file")


def build_default_gate(
    root: Path,
    *,
    policy_dir: Path | None = None,
    as_of: dt.date | None = None,
    force: bool = False,
    options: Mapping[str, Any] | None = None,
    engine: PolicyEngine | None = None,
) -> Gate:
    """The gate with every collector and obligation engine the project ships.

    The AOI and zone registries come from ``<root>/data/aoi``; partition keys are checked
    against them. A repository without registries gates every partition to outcome ``error``
    (no geo check can run). Unknown or ill-typed ``options`` and a named ``policy_dir`` that
    does not exist are a ConfigError (:func:`check_options`).
    """
    from kfm_gate.evidence import PiiCollector, QualityCollector, RedactionEngine, SecretsCollector
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

    root = root.resolve()
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    check_options(opts)
    if policy_dir is not None and not policy_dir.is_dir():
        raise ConfigError(f"policy folder {policy_dir} does not exist; pass --policies DIR")
    if engine is None and opts.get("engine", "embedded") != "embedded":
        engine = _server_engine(root, policy_dir, opts)
    collectors: list[Any] = [
        ChecksumCollector(),
        PlacementCollector(),
        QualityCollector(),
        PiiCollector(),
        SecretsCollector(),
    ]
    engines: list[Any] = [RedactionEngine()]
    geo_provider = missing_registry_provider(root / "data" / "aoi")
    aoi_ids = None
    aoi_dir = root / "data" / "aoi"
    if aoi_dir.is_dir():
        from kfm_gate.geo import GeoVerificationCollector, MaskingEngine, load_registries

        registries = load_registries(
            aoi_dir, invalid_geometry=opts.get("geo.invalid_geometry", "repair")
        )
        aoi_ids = frozenset(registries.aoi.ids())
        geo_provider = build_geo_provider(registries)
        engines.append(MaskingEngine(registries, key_source=_key_source(root, opts)))
        collectors.append(GeoVerificationCollector(registries))
    return build_gate(
        root,
        policy_dir=policy_dir,
        as_of=as_of,
        force=force,
        engine=engine,
        collectors=collectors,
        obligation_engines=engines,
        geo_context=geo_provider,
        aoi_ids=aoi_ids,
        options=opts,
    )
