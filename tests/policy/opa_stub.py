"""A small, real HTTP server that speaks the part of OPA's REST API kfm-gate uses.

No ``opa`` binary can be installed here, so the OPA server engine is tested against this
server: stdlib ``http.server`` on 127.0.0.1 (random port, one thread per request) whose
policy evaluation is done by the real OPA Go library embedded through ``opa_bindings``. It is
test infrastructure, not an OPA server: it implements only

* ``GET /health``
* ``GET /v1/policies``, ``GET|PUT|DELETE /v1/policies/<id>`` (PUT compiles the whole set, as
  OPA does, and answers 400 with OPA-shaped ``errors`` when it does not compile)
* ``PUT /v1/data/<path>`` (create or overwrite; 204), ``GET /v1/data/<path>``
* ``POST /v1/data/<path>`` with ``{"input": ...}`` -> ``{"result": ..., "decision_id": ...}``
  (no ``result`` when undefined), ``?provenance=true`` adds ``provenance.bundles``
* a bundle given at start (``bundle=`` bytes of a ``.tar.gz``), as ``opa run --bundle`` would
  load it: its roots are then owned by the bundle and writes under them are refused

Faults for the fail-closed tests: ``delay_s`` (answers late), ``fail_status`` (answers POSTs
on the Data API with that HTTP status), ``undefined`` (answers with no result),
``trickle_s`` (sends the answer to a POST one byte every ``trickle_s`` seconds, so that no
single read times out), ``garbage`` (answers POSTs with bytes that are not JSON).
:class:`AllowEverythingServer` is the other fault: a server that accepts every upload, gives
it back when asked, and answers ``allow`` to every evaluation without running any policy.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

from kfm_gate.policy.bundle_writer import read_bundle

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_LOCATION = re.compile(r"^(?P<file>[^\s:]+):(?P<row>\d+): (?P<code>\w+): (?P<msg>.*)$")
OPA_VERSION = "1.20.2-kfm-test-stub"


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


class OpaDataApiServer:
    """The server's state (policies, data, bundle) and its HTTP listener."""

    def __init__(self, *, bundle: bytes | None = None, bundle_name: str = "kfm") -> None:
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.bundle_name = bundle_name
        self.bundle_revision: str | None = None
        self.bundle_roots: tuple[str, ...] = ()
        self._bundle_modules: dict[str, str] = {}
        self._bundle_data: dict[str, Any] = {}
        self.delay_s = 0.0
        self.fail_status: int | None = None
        self.undefined = False
        self.trickle_s = 0.0
        self.garbage = False
        self.decision_ids: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.RLock()
        self._engine: OpaEngine | None = None
        if bundle is not None:
            contents = read_bundle(bundle)
            self.bundle_revision = contents.revision
            self.bundle_roots = tuple(contents.manifest.get("roots", [""]))
            self._bundle_modules = {f"{bundle_name}/{k}": v for k, v in contents.modules.items()}
            self._bundle_data = contents.data_tree()
            self._engine = self._compile(self.policies, self.data)
        self.connections: set[socket.socket] = set()
        self._httpd = _Listener(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._started = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpaDataApiServer:
        self._thread.start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
        for conn in list(self.connections):  # end keep-alive connections still open
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    # -- OPA semantics -------------------------------------------------------------------

    def _compile(self, policies: dict[str, str], data: dict[str, Any]) -> OpaEngine:
        engine = OpaEngine()
        engine.print_handler = lambda message, location: None
        try:
            for pid, source in sorted({**self._bundle_modules, **policies}.items()):
                engine.add_policy(pid, source)
            engine.add_data(_merge(self._bundle_data, data))
            engine.eval_query("x = true")
        except OpaError as err:
            engine.close()
            raise _ApiError(400, _compile_error_body(err)) from err
        return engine

    def _swap(self, policies: dict[str, str], data: dict[str, Any]) -> None:
        engine = self._compile(policies, data)
        old, self._engine = self._engine, engine
        self.policies, self.data = policies, data
        if old is not None:
            old.close()

    def _owned(self, path: list[str]) -> str | None:
        joined = "/".join(path)
        for root in self.bundle_roots:
            if root == "" or joined == root or joined.startswith(root + "/"):
                return root
            if root.startswith(joined + "/") or not joined:
                return root
        return None

    def put_policy(self, pid: str, source: str) -> None:
        with self._lock:
            pkg = _PACKAGE.search(source)
            if pkg and self._owned(pkg.group(1).split(".")) is not None:
                raise _ApiError(
                    400,
                    {
                        "code": "invalid_parameter",
                        "message": f"path data.{pkg.group(1)} is owned by bundle "
                        f"{self.bundle_name!r}",
                    },
                )
            self._swap({**self.policies, pid: source}, self.data)

    def delete_policy(self, pid: str) -> None:
        with self._lock:
            if pid not in self.policies:
                raise _ApiError(
                    404, {"code": "resource_not_found", "message": f"storage_not_found: {pid}"}
                )
            rest = {k: v for k, v in self.policies.items() if k != pid}
            self._swap(rest, self.data)

    def put_data(self, path: list[str], value: Any) -> None:
        with self._lock:
            root = self._owned(path)
            if root is not None:
                raise _ApiError(
                    400,
                    {
                        "code": "invalid_parameter",
                        "message": f"path /{'/'.join(path)} is owned by bundle "
                        f"{self.bundle_name!r} (root {root!r})",
                    },
                )
            if not path:
                if not isinstance(value, dict):
                    raise _ApiError(
                        400, {"code": "invalid_parameter", "message": "root must be an object"}
                    )
                self._swap(self.policies, value)
                return
            data = json.loads(json.dumps(self.data))
            node = data
            for part in path[:-1]:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = node[part] = {}
                node = nxt
            node[path[-1]] = value
            self._swap(self.policies, data)

    def evaluate(self, path: list[str], input_doc: Any) -> tuple[bool, Any]:
        with self._lock:
            if self._engine is None:
                self._engine = self._compile(self.policies, self.data)
            try:
                return True, self._engine.eval_document(".".join(path), input_doc)
            except OpaUndefinedError:
                return False, None
            except OpaError as err:
                raise _ApiError(
                    500, {"code": "internal_error", "message": getattr(err, "message", str(err))}
                ) from err

    def provenance(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": OPA_VERSION}
        if self.bundle_revision is not None:
            doc["bundles"] = {self.bundle_name: {"revision": self.bundle_revision}}
        return doc


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up (timeout tests) is not an error of the server


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _compile_error_body(err: OpaError) -> dict[str, Any]:
    errors = []
    for line in getattr(err, "message", str(err)).splitlines():
        found = _LOCATION.match(line.strip())
        if found:
            errors.append(
                {
                    "code": found.group("code"),
                    "message": found.group("msg"),
                    "location": {"file": found.group("file"), "row": int(found.group("row"))},
                }
            )
    if not errors:
        errors.append({"code": "rego_compile_error", "message": str(err)})
    return {
        "code": "invalid_parameter",
        "message": "error(s) occurred while compiling module(s)",
        "errors": errors,
    }


def _handler(server: OpaDataApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1  # headers and body leave in one write (no Nagle / delayed-ACK stall)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def setup(self) -> None:
            super().setup()
            server.connections.add(self.connection)

        def finish(self) -> None:
            server.connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def _send(self, status: int, body: Any = None, *, trickle_s: float = 0.0) -> None:
            raw = b"" if body is None else json.dumps(body).encode("utf-8")
            self._send_raw(status, raw, trickle_s=trickle_s)

        def _send_raw(self, status: int, raw: bytes, *, trickle_s: float = 0.0) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if not trickle_s:
                self.wfile.write(raw)
                return
            self.wfile.flush()
            for i in range(len(raw)):  # one byte at a time: no read ever waits long
                try:
                    self.wfile.write(raw[i : i + 1])
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up
                time.sleep(trickle_s)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            segments = [unquote(s) for s in parts.path.split("/") if s]
            server.requests.append((method, parts.path))
            body = self._body() if method in ("PUT", "POST") else b""
            try:
                self._dispatch(method, segments, query, body)
            except _ApiError as err:
                self._send(err.status, err.body)

        def _dispatch(
            self, method: str, seg: list[str], query: dict[str, list[str]], body: bytes
        ) -> None:
            if seg == ["health"] and method == "GET":
                self._send(200, {})
                return
            if seg[:2] == ["v1", "policies"]:
                pid = "/".join(seg[2:])
                if method == "GET" and not pid:
                    items = [{"id": k, "raw": v} for k, v in sorted(server.policies.items())]
                    self._send(200, {"result": items})
                elif method == "GET":
                    if pid not in server.policies:
                        raise _ApiError(
                            404, {"code": "resource_not_found", "message": f"{pid} not found"}
                        )
                    self._send(200, {"result": {"id": pid, "raw": server.policies[pid]}})
                elif method == "PUT":
                    server.put_policy(pid, body.decode("utf-8"))
                    self._send(200, {})
                elif method == "DELETE":
                    server.delete_policy(pid)
                    self._send(200, {})
                else:
                    self._send(405, {"code": "method_not_allowed", "message": method})
                return
            if seg[:2] == ["v1", "data"]:
                path = seg[2:]
                if method == "PUT":
                    server.put_data(path, _json(body))
                    self._send(204)
                    return
                if method not in ("GET", "POST"):
                    self._send(405, {"code": "method_not_allowed", "message": method})
                    return
                input_doc = None
                if method == "POST":
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    if server.fail_status is not None:
                        raise _ApiError(
                            server.fail_status,
                            {"code": "internal_error", "message": "injected failure"},
                        )
                    if server.garbage:
                        self._send_raw(200, b"<html>not OPA</html>\x00\xff")
                        return
                    doc = _json(body) if body else {}
                    input_doc = doc.get("input") if isinstance(doc, dict) else None
                defined, result = server.evaluate(path, input_doc)
                out: dict[str, Any] = {}
                if defined and not server.undefined:
                    out["result"] = result
                if method == "POST":
                    decision_id = str(uuid.uuid4())
                    server.decision_ids.append(decision_id)
                    out["decision_id"] = decision_id
                if query.get("provenance", [""])[0].lower() == "true":
                    out["provenance"] = server.provenance()
                self._send(200, out, trickle_s=server.trickle_s if method == "POST" else 0.0)
                return
            self._send(404, {"code": "resource_not_found", "message": self.path})

        def do_GET(self) -> None:
            self._route("GET")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _ApiError(
            400, {"code": "invalid_parameter", "message": f"body is not JSON: {err}"}
        ) from err


@contextmanager
def running_opa_stub(**kwargs: Any) -> Iterator[OpaDataApiServer]:
    """An OpaDataApiServer listening on 127.0.0.1, stopped on exit."""
    server = OpaDataApiServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


class AllowEverythingServer:
    """A server that speaks OPA's REST API but runs no policy: every upload is accepted and
    given back when read (so a read-back alone cannot tell), every evaluation answers
    ``{"outcome": "allow"}``. The engine must not trust it."""

    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.data: Any = None
        self.posts = 0
        self._httpd = _Listener(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, body: Any) -> None:
                raw = json.dumps(body).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                pid = unquote(path.removeprefix("/v1/policies/"))
                if path.startswith("/v1/policies/") and pid:
                    self._send({"result": {"id": pid, "raw": fake.policies.get(pid, "")}})
                elif path.startswith("/v1/policies"):
                    self._send({"result": [{"id": k} for k in sorted(fake.policies)]})
                elif path.startswith("/v1/data/"):
                    self._send({"result": fake.data})
                else:
                    self._send({})

            def do_PUT(self) -> None:
                path = urlsplit(self.path).path
                body = self._body()
                if path.startswith("/v1/policies/"):
                    fake.policies[unquote(path.removeprefix("/v1/policies/"))] = body.decode()
                    self._send({})
                    return
                fake.data = json.loads(body)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_DELETE(self) -> None:
                self._send({})

            def do_POST(self) -> None:
                self._body()
                fake.posts += 1
                allow = {"outcome": "allow", "violations": [], "warnings": [], "waived": []}
                self._send({"result": allow, "decision_id": str(uuid.uuid4())})

        return Handler

    def __enter__(self) -> AllowEverythingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()
