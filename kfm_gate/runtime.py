"""The default assembly of a gate: which collectors and obligation engines run.

Parts whose libraries are heavy are imported here only when a gate is built, never when the
CLI starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def _server_engine(root: Path, policy_dir: Path | None, opts: Mapping[str, Any]) -> PolicyEngine:
    """The OPA-server engine named by ``options`` (``engine``: ``opa`` or ``server``)."""
    from kfm_gate.errors import ConfigError
    from kfm_gate.policy.bundle import load_policy_set
    from kfm_gate.policy.factory import build_engine

    name = str(opts["engine"])
    if name not in ("opa", "server"):
        raise ConfigError(f"engine {name!r} is unknown: use embedded or opa (with --opa-url)")
    return build_engine(
        "opa",
        policies=load_policy_set(policy_dir or root / "policies"),
        opa_url=opts.get("opa_url"),
        timeout_s=float(opts.get("opa_timeout_s", 5.0)),
    )


def _key_source(root: Path, opts: Mapping[str, Any]) -> Any:
    """The masking-key loader for ``key_source``: ``env``, ``file:<path>`` or ``env-or-file``."""
    import os

    from kfm_gate.errors import ConfigError
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
    against them. A repository without registries gets no geo context (and the policies deny
    anything that needs it).
    """
    from kfm_gate.evidence import PiiCollector, QualityCollector, RedactionEngine, SecretsCollector
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector

    root = root.resolve()
    opts = {k: v for k, v in (options or {}).items() if v is not None}
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
    geo_provider = None
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
