"""Indented, key-sorted JSON, byte for byte what ``json.dumps(..., sort_keys=True, indent=n)``
writes, about twice as fast.

With an ``indent`` the standard library falls back to its pure-Python encoder (a chain of
generators); kfm-gate writes every record that way (run records, PROV JSON-LD, OpenLineage events, STAC
documents), so this writer builds the same text with one recursive function. Only the types
JSON documents are made of are handled here (``dict`` with ``str`` keys, ``list``, ``tuple``,
``str``, ``int``, ``float``, ``bool``, ``None``); anything else (subclasses, other key types)
is handed to ``json.dumps`` itself, so the output is always the standard library's. A
property test compares both on generated documents.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

_INF = float("inf")
_float_repr = float.__repr__
_int_repr = int.__repr__


class _UnsupportedError(Exception):
    """A value this writer leaves to ``json.dumps``."""


def dumps_indent(
    obj: Any, indent: int, *, ensure_ascii: bool = False, allow_nan: bool = True
) -> str:
    """``json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=..., allow_nan=...)``."""
    enc = encode_basestring_ascii if ensure_ascii else encode_basestring
    pad = " " * indent
    parts: list[str] = []
    append = parts.append

    def walk(o: Any, nl: str) -> None:
        t = type(o)
        if t is str:
            append(enc(o))
        elif t is dict:
            if not o:
                append("{}")
                return
            inner = nl + pad
            sep = "{" + inner
            for key, value in sorted(o.items()):
                if type(key) is not str:
                    raise _UnsupportedError
                append(sep)
                append(enc(key))
                append(": ")
                walk(value, inner)
                sep = "," + inner
            append(nl)
            append("}")
        elif t is list or t is tuple:
            if not o:
                append("[]")
                return
            inner = nl + pad
            sep = "[" + inner
            for value in o:
                append(sep)
                walk(value, inner)
                sep = "," + inner
            append(nl)
            append("]")
        elif o is None:
            append("null")
        elif o is True:
            append("true")
        elif o is False:
            append("false")
        elif t is int:
            append(_int_repr(o))
        elif t is float:
            if not allow_nan and (o != o or o in (_INF, -_INF)):
                raise _UnsupportedError  # json.dumps raises its ValueError
            if o != o:
                append("NaN")
            elif o == _INF:
                append("Infinity")
            elif o == -_INF:
                append("-Infinity")
            else:
                append(_float_repr(o))
        else:
            raise _UnsupportedError

    try:
        walk(obj, "\n")
    except (_UnsupportedError, RecursionError):  # json.dumps gives its own error (or result)
        return json.dumps(
            obj, sort_keys=True, indent=indent, ensure_ascii=ensure_ascii, allow_nan=allow_nan
        )
    return "".join(parts)
