"""Bounded work: the limits of what one request may make the gate read and wait for.

Every limit lives in :data:`LIMITS` (one place; ``docs/reliability.md`` lists the values and
how each is tested). Hitting one is :class:`~kfm_gate.errors.LimitError` (its ``limit`` names
it), which the gate records as outcome ``error``:

``request_bytes``   bytes of a request (checked before parsing)
``document_bytes``  bytes of a YAML/JSON document the gate reads beside it (source manifest,
                    waiver file), checked before parsing
``depth``           nesting of arrays and objects (a deeper document stops the parser)
``elements``        members of all arrays and objects of one document together (objects are
                    counted while parsing)
``string_chars``    characters of one string value or key

and the deadlines of whole calls, in seconds: ``policy_eval_s`` (one evaluation of the
embedded engine, which runs in a child process that is killed past it), ``opa_call_s`` (one
call to an OPA server, all reads included) and ``collector_s`` (one evidence collector).

:func:`load_json` and :func:`load_yaml` are the readers that enforce them: JSON with
duplicate keys or ``NaN`` and YAML with anchors, aliases, custom tags or YAML 1.1 booleans
(``yes``/``no``/``on``/``off``) are refused, so a value is read the same way by every tool.
:func:`check_document` applies the same limits to a document that is already in memory.
:func:`call_with_deadline` runs a call in a daemon thread and stops waiting at its deadline.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from kfm_gate.errors import InputError, LimitError

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """The limit values (see the module docstring)."""

    request_bytes: int = 1024 * 1024
    document_bytes: int = 1024 * 1024
    depth: int = 32
    elements: int = 20_000
    string_chars: int = 64 * 1024
    policy_eval_s: float = 10.0
    opa_call_s: float = 5.0
    collector_s: float = 300.0

    def describe(self) -> dict[str, int | float]:
        """The values by name (for records and docs)."""
        return {
            "request_bytes": self.request_bytes,
            "document_bytes": self.document_bytes,
            "depth": self.depth,
            "elements": self.elements,
            "string_chars": self.string_chars,
            "policy_eval_s": self.policy_eval_s,
            "opa_call_s": self.opa_call_s,
            "collector_s": self.collector_s,
        }


#: the limits of this gate (one place)
LIMITS = Limits()


def _too_big(what: str, size: int, limit: int, name: str, fix: str) -> LimitError:
    return LimitError(
        f"{what} is {size} bytes; the limit {name} is {limit} bytes: {fix}", limit=name
    )


class _Counter:
    """Counts object members while the JSON parser builds objects; refuses duplicate keys."""

    def __init__(self, what: str, limits: Limits) -> None:
        self.what = what
        self.limits = limits
        self.members = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.members += len(pairs)
        if self.members > self.limits.elements:
            raise LimitError(
                f"{self.what} holds more than {self.limits.elements} elements (limit "
                "elements): list files, do not embed data",
                limit="elements",
            )
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise InputError(
                        f"{self.what}: key {key[:80]!r} appears twice in one object; give a "
                        "value once (parsers disagree on which copy wins)"
                    )
                seen.add(key)
        return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(
    raw: bytes | str, what: str, *, limits: Limits = LIMITS, max_bytes: int | None = None
) -> Any:
    """Parse JSON within ``limits``; :class:`LimitError` names the limit it exceeds,
    :class:`InputError` anything else (not JSON, duplicate keys, ``NaN``).

    ``max_bytes`` (default ``limits.request_bytes``) is checked before parsing, the depth
    stops the parser, objects are counted while parsing and arrays right after it."""
    cap = limits.request_bytes if max_bytes is None else max_bytes
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > cap:
        name = "request_bytes" if max_bytes is None else "document_bytes"
        raise _too_big(what, size, cap, name, "requests list files, they do not embed data")
    counter = _Counter(what, limits)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        doc = json.loads(text, object_pairs_hook=counter, parse_constant=_refuse_constant)
    except RecursionError as err:
        raise LimitError(
            f"{what} is nested deeper than {limits.depth} levels (limit depth)", limit="depth"
        ) from err
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what} is not JSON: not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
    except json.JSONDecodeError as err:
        raise InputError(
            f"{what} is not JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err
    except ValueError as err:  # NaN / Infinity
        raise InputError(f"{what} is not strict JSON: {err}") from err
    check_document(doc, what, limits=limits)
    return doc


def check_document(doc: Any, what: str, *, limits: Limits = LIMITS) -> None:
    """Refuse a parsed document deeper than ``limits.depth``, with more than
    ``limits.elements`` members in all, or with a string (or key) longer than
    ``limits.string_chars``. Iterative: any depth is measured without recursion."""
    stack: list[tuple[Any, int, str]] = [(doc, 0, "")]
    elements = 0
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, str):
            if len(node) > limits.string_chars:
                raise LimitError(
                    f"{what}{_at(where)} is a string of {len(node)} characters; the limit "
                    f"string_chars is {limits.string_chars}",
                    limit="string_chars",
                )
            continue
        if isinstance(node, dict):
            items: list[tuple[str, Any]] = [(str(k), v) for k, v in node.items()]
            for key, _ in items:
                if len(key) > limits.string_chars:
                    raise LimitError(
                        f"{what}{_at(where)} has a key of {len(key)} characters; the limit "
                        f"string_chars is {limits.string_chars}",
                        limit="string_chars",
                    )
        elif isinstance(node, list | tuple):
            items = [(f"[{i}]", v) for i, v in enumerate(node)]
        else:
            continue
        if depth + 1 > limits.depth:
            raise LimitError(
                f"{what}{_at(where)} is nested deeper than {limits.depth} levels (limit depth)",
                limit="depth",
            )
        elements += len(items)
        if elements > limits.elements:
            raise LimitError(
                f"{what} holds more than {limits.elements} elements (limit elements): list "
                "files, do not embed data",
                limit="elements",
            )
        for key, child in items:
            if isinstance(child, dict | list | tuple | str):
                step = key if key.startswith("[") else (f".{key}" if where else key)
                stack.append((child, depth + 1, f"{where}{step}"))


def _at(where: str) -> str:
    return f" at {where[:120]}" if where else ""


# -- YAML ------------------------------------------------------------------------------------

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 booleans (``yes``, ``no``, ``on``, ``off`` stay strings),
    without anchors and aliases (no expansion bombs), without ``!!`` tags beyond the core."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise yaml.YAMLError(f"aliases (*name) are not allowed{_line(event)}")
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            raise yaml.YAMLError(f"anchors (&name) are not allowed{_line(event)}")
        return super().compose_node(parent, index)


def _line(event: Any) -> str:
    mark = event.start_mark
    return f" (line {mark.line + 1})" if mark is not None else ""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _StrictLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", _BOOL)
    )
_StrictLoader.yaml_constructors = {
    tag: constructor
    for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag
    not in (
        "tag:yaml.org,2002:binary",
        "tag:yaml.org,2002:set",
        "tag:yaml.org,2002:omap",
        "tag:yaml.org,2002:pairs",
    )
}


def load_yaml(raw: bytes | str, what: str, *, limits: Limits = LIMITS) -> Any:
    """Parse YAML strictly (see :class:`_StrictLoader`) within ``limits.document_bytes`` and
    the document limits; InputError / LimitError name the problem."""
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > limits.document_bytes:
        raise _too_big(what, size, limits.document_bytes, "document_bytes", "split the document")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        doc = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what} is not YAML: not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
    except RecursionError as err:
        raise LimitError(
            f"{what} is nested deeper than {limits.depth} levels (limit depth)", limit="depth"
        ) from err
    except yaml.YAMLError as err:
        raise InputError(f"{what} is not valid YAML: {_first_line(err)}") from err
    except (ValueError, TypeError, OverflowError) as err:  # a scalar YAML cannot build
        raise InputError(f"{what}: a value cannot be read: {_first_line(err)}") from err
    check_document(doc, what, limits=limits)
    return doc


def _first_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text[:300]


# -- deadlines -------------------------------------------------------------------------------


def call_with_deadline(func: Callable[[], T], timeout: float, what: str = "call") -> T:
    """``func()``, waiting at most ``timeout`` seconds: :class:`TimeoutError` past it.

    The call runs in a daemon thread, so a call that never returns does not keep the process
    alive or block its exit; it cannot be interrupted, so callers whose work can be killed
    (a child process) kill it themselves when this raises.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as err:  # handed to the caller
            box["error"] = err
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"kfm-deadline:{what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        raise TimeoutError(f"{what} did not finish within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
