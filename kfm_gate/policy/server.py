"""The OPA server engine: the council's policies evaluated by an OPA server over its REST API.

It speaks OPA's Data API through PyPI ``opa-python-client`` (module ``opa_client``):
``POST /v1/data/<path>`` with ``{"input": ...}`` returns ``{"result": ..., "decision_id": ...}``.

Two ways to get the policies onto the server:

``push`` (default)
    On first use the engine uploads every Rego module of the policy set with
    ``PUT /v1/policies/kfm-gate/<relative path>`` (``rego_compat=False``: the council writes
    OPA v1 Rego, nothing is rewritten) and the parameters with ``PUT /v1/data/kfm/params``.
    Modules it pushed earlier that are no longer in the set are deleted.
``bundle``
    The server was started with the bundle of ``kfm-gate policy bundle`` (or pulls it). The
    engine pushes nothing; it checks that the bundle revision the server reports
    (``?provenance=true``) equals the working policy digest, on first use and on every decision.

Nothing is contacted when the engine is built: the gate builds engines before it can record a
run, and a server that is down must give outcome ``error`` with a record, not a crash. Every
failure raises a :mod:`kfm_gate.errors` subclass: refused connections, timeouts and HTTP errors
raise :class:`PolicyEngineUnavailableError`; an undefined or malformed result raises
:class:`PolicyEvalError`. The gate turns both into outcome ``error`` (fail closed).

After each evaluation, :attr:`OpaServerEngine.last_decision_id` holds the decision id OPA gave
(OPA returns one when decision logging is on) and :attr:`OpaServerEngine.last_revision` the
bundle revision it reported; both are per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from kfm_gate.errors import (
    ConfigError,
    PolicyCompileError,
    PolicyEngineUnavailableError,
    PolicyError,
    PolicyEvalError,
)
from kfm_gate.policy.bundle import PolicySet
from kfm_gate.policy.engine import PolicySetBacked

if TYPE_CHECKING:
    from opa_client import OpaClient

#: id prefix of the modules this engine pushes (``PUT /v1/policies/<prefix><path>``)
POLICY_ID_PREFIX = "kfm-gate/"
#: where the parameters go on the server: ``data.kfm.params``
PARAMS_PATH = "kfm/params"
ServerMode = Literal["push", "bundle"]
MODES: tuple[ServerMode, ...] = ("push", "bundle")


def parse_opa_url(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of ``http[s]://host[:port]``; ConfigError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--opa-url {url!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8181"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"--opa-url {url!r} has a path or query; give only scheme, host and port "
            "(the engine adds /v1/data/...)"
        )
    try:
        port = parts.port
    except ValueError as err:
        raise ConfigError(f"--opa-url {url!r} has an invalid port: {err}") from err
    tls = parts.scheme == "https"
    return parts.hostname, port or (443 if tls else 8181), tls


class OpaServerEngine(PolicySetBacked):
    """Evaluates the policy set on an OPA server (REST Data API); fails closed."""

    name = "opa-server"

    def __init__(
        self,
        policies: PolicySet,
        *,
        url: str,
        mode: ServerMode = "push",
        timeout_s: float = 2.0,
        retries: int = 1,
        bundle_name: str | None = None,
        token: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"OPA server mode {mode!r} is unknown; use one of {', '.join(MODES)}")
        if not timeout_s > 0:
            raise ConfigError(f"OPA timeout {timeout_s!r} s must be a positive number of seconds")
        if retries < 0:
            raise ConfigError(f"OPA retries {retries!r} must be 0 or more")
        self.host, self.port, self.tls = parse_opa_url(url)
        self.url = f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"
        self.mode: ServerMode = mode
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.bundle_name = bundle_name
        self._token = token
        self._policies = policies
        self._client: OpaClient | None = None
        self._ready = False
        self._connect_lock = threading.Lock()
        self._local = threading.local()
        self.server_version: str | None = None
        self.pushed: tuple[str, ...] = ()

    # -- PolicyEngine ------------------------------------------------------------------

    @property
    def last_decision_id(self) -> str | None:
        """OPA's ``decision_id`` of this thread's last evaluation (None if OPA gave none)."""
        value: str | None = getattr(self._local, "decision_id", None)
        return value

    @property
    def last_revision(self) -> str | None:
        """Bundle revision OPA reported for this thread's last evaluation (bundle mode)."""
        value: str | None = getattr(self._local, "revision", None)
        return value

    def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
        """``data.<path>`` for ``input_doc`` on the server."""
        self._local.decision_id = None
        self._local.revision = None
        self.connect()
        client = self._require_client()
        what = f"POST {self.url}/v1/data/{path.replace('.', '/')}"
        body = self._call(
            what,
            lambda: client.query_rule(input_doc, path, query_params={"provenance": "true"}),
        )
        if not isinstance(body, Mapping):
            raise PolicyEvalError(
                f"{what} answered {type(body).__name__}, not a JSON object: "
                "is the URL an OPA server?"
            )
        decision_id = body.get("decision_id")
        self._local.decision_id = str(decision_id) if decision_id is not None else None
        if self.mode == "bundle":
            self._local.revision = self._check_revision(body, what)
        if "result" not in body:
            raise PolicyEvalError(
                f"data.{path} is undefined on the OPA server {self.url} for this input: "
                f"the policy set must always define it (in {self.mode} mode "
                + (
                    "check that the server loaded the kfm-gate bundle)"
                    if self.mode == "bundle"
                    else "check the package name and that a default rule exists)"
                )
            )
        return body["result"]

    def close(self) -> None:
        if self._client is not None:
            self._client.close_connection()
            self._client = None
        self._ready = False

    def __enter__(self) -> OpaServerEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection --------------------------------------------------------------------

    def connect(self) -> None:
        """Reach the server and install (push) or verify (bundle) the policies, once."""
        if self._ready:
            return
        with self._connect_lock:
            if self._ready:
                return
            from opa_client import OpaClient

            if self._client is None:
                self._client = OpaClient(
                    host=self.host,
                    port=self.port,
                    ssl=self.tls,
                    token=self._token,
                    retries=self.retries,
                    timeout=self.timeout_s,
                )
            client = self._client
            if not client.check_health():
                raise PolicyEngineUnavailableError(
                    f"OPA server {self.url} is not reachable or not healthy "
                    f"(GET /health failed within {self.timeout_s:g} s); start it "
                    "(opa run --server) or fix --opa-url"
                )
            if self.mode == "push":
                self._push(client)
            else:
                what = f"POST {self.url}/v1/data/{PARAMS_PATH}"
                body = self._call(
                    what,
                    lambda: client.query_rule({}, PARAMS_PATH, query_params={"provenance": "true"}),
                )
                body = body if isinstance(body, Mapping) else {}
                self._check_revision(body, what)
                if "result" not in body:
                    raise PolicyError(
                        f"{what}: the bundle the server serves has no data.kfm.params; "
                        "build it with 'kfm-gate policy bundle --out FILE'"
                    )
            self._ready = True

    def _require_client(self) -> OpaClient:
        if self._client is None:
            raise PolicyEngineUnavailableError(f"OPA server engine for {self.url} is closed")
        return self._client

    def _call(self, what: str, func: Any) -> Any:
        """Run one client call, mapping every transport failure to a kfm-gate error."""
        import requests
        from opa_client.errors import PolicyNotFoundError

        try:
            return func()
        except requests.Timeout as err:
            raise PolicyEngineUnavailableError(
                f"{what}: no answer within {self.timeout_s:g} s; the server is overloaded or "
                "hung: check it, or raise the timeout (--opa-timeout)"
            ) from err
        except requests.ConnectionError as err:
            raise PolicyEngineUnavailableError(
                f"{what}: connection failed ({_short(err)}); is OPA running at {self.url}?"
            ) from err
        except requests.HTTPError as err:
            status = err.response.status_code if err.response is not None else "?"
            raise PolicyEngineUnavailableError(
                f"{what}: HTTP {status} {_server_message(err.response)}; see the OPA server log"
            ) from err
        except PolicyNotFoundError as err:
            raise PolicyEngineUnavailableError(
                f"{what}: the server has no such document ({err.message}); "
                "in bundle mode start OPA with the kfm-gate bundle"
            ) from err
        except (requests.RequestException, ValueError) as err:
            raise PolicyEngineUnavailableError(
                f"{what}: unusable answer ({_short(err)}); is {self.url} an OPA server?"
            ) from err

    def _check_revision(self, body: Mapping[str, Any], what: str) -> str:
        provenance = body.get("provenance")
        bundles = provenance.get("bundles") if isinstance(provenance, Mapping) else None
        if isinstance(provenance, Mapping) and isinstance(provenance.get("version"), str):
            self.server_version = provenance["version"]
        if not isinstance(bundles, Mapping) or not bundles:
            raise PolicyError(
                f"{what}: the OPA server reports no active bundle; start it with the bundle "
                "of 'kfm-gate policy bundle --out FILE' (opa run --server --bundle FILE) "
                "or use push mode"
            )
        if self.bundle_name is not None:
            entry = bundles.get(self.bundle_name)
            if entry is None:
                raise PolicyError(
                    f"{what}: the OPA server has no bundle {self.bundle_name!r} "
                    f"(it has {', '.join(sorted(bundles))})"
                )
        elif len(bundles) == 1:
            entry = next(iter(bundles.values()))
        else:
            raise PolicyError(
                f"{what}: the OPA server has {len(bundles)} bundles "
                f"({', '.join(sorted(bundles))}); name the kfm-gate one (bundle_name)"
            )
        revision = entry.get("revision") if isinstance(entry, Mapping) else None
        if revision != self._policies.revision:
            raise PolicyError(
                f"{what}: the OPA server serves bundle revision {revision!r}, but the policy "
                f"set {self._policies.root} has revision {self._policies.revision!r}; rebuild "
                "the bundle with 'kfm-gate policy bundle --out FILE' and reload the server"
            )
        return str(revision)

    def _push(self, client: OpaClient) -> None:
        from opa_client.errors import RegoParseError

        policies = self._policies
        try:
            self._call(
                f"PUT {self.url}/v1/data/{PARAMS_PATH}",
                lambda: client.update_or_create_data(dict(policies.data), PARAMS_PATH),
            )
        except RegoParseError as err:
            raise PolicyError(
                f"the OPA server {self.url} refused the parameters at data.kfm.params: {err}; "
                "if it serves a bundle with root 'kfm', use bundle mode instead of push"
            ) from err
        existing = self._call(f"GET {self.url}/v1/policies", client.get_policies_list)
        wanted = {POLICY_ID_PREFIX + rel: src for rel, src in policies.modules.items()}
        pending = dict(sorted(wanted.items()))
        stale = sorted(
            pid for pid in existing if pid.startswith(POLICY_ID_PREFIX) and pid not in wanted
        )
        # A module may call a function of another one, or clash with a stale module: upload
        # and delete until nothing more succeeds; what is left is a real error.
        errors: dict[str, RegoParseError] = {}
        progress = True
        while (pending or stale) and progress:
            progress = False
            errors = {}
            for pid, source in list(pending.items()):
                try:
                    self._call(
                        f"PUT {self.url}/v1/policies/{pid}",
                        lambda pid=pid, source=source: client.update_policy_from_string(
                            source, pid, rego_compat=False
                        ),
                    )
                except RegoParseError as err:
                    errors[pid] = err
                    continue
                del pending[pid]
                progress = True
            for pid in list(stale):
                try:
                    self._call(
                        f"DELETE {self.url}/v1/policies/{pid}",
                        lambda pid=pid: client.delete_policy(pid),
                    )
                except PolicyEngineUnavailableError:
                    raise
                except Exception:  # the server refused: retry after the next uploads
                    continue
                stale.remove(pid)
                progress = True
        if pending:
            pid, first = next(iter(errors.items()))
            raise PolicyCompileError(
                f"the OPA server {self.url} rejected module {pid.removeprefix(POLICY_ID_PREFIX)}: "
                f"{first}; fix the Rego (kfm-gate policy check)",
                location=_location(first),
            ) from first
        self.pushed = tuple(sorted(wanted))


def _short(err: BaseException) -> str:
    text = str(err)
    return text if len(text) <= 200 else text[:200] + "..."


def _server_message(response: Any) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:200]
    if isinstance(body, Mapping):
        return f"{body.get('code', '')}: {body.get('message', '')}".strip(": ")
    return str(body)[:200]


def _location(err: Any) -> str | None:
    for item in getattr(err, "errors", None) or []:
        loc = item.get("location") if isinstance(item, Mapping) else None
        if isinstance(loc, Mapping) and loc.get("file"):
            return f"{loc['file']}:{loc.get('row', 0)}"
    return None
