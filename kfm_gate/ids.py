"""Canonical JSON, digests, deterministic ids and partition-key rules.

Digests are ``sha256:<64 lowercase hex>`` over RFC 8785 (JCS) canonical JSON, so the same
document gives the same digest whatever the key order or number spelling. Ids derived from
digests match ``^[a-z][a-z0-9_:.-]*$``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785

from kfm_gate.errors import InputError, PartitionKeyError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
ID_RE = re.compile(r"^[a-z][a-z0-9_:.-]*$")
AOI_KEY_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$")
TIME_KEY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,95}$")
#: characters of the digest kept in run and decision ids (96 bits)
ID_DIGEST_CHARS = 24


#: integers JSON numbers hold exactly (IEEE 754 doubles): RFC 8785's integer domain
_MAX_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when ``value`` holds only the JSON whose RFC 8785 form equals ``json.dumps``'s.

    That is: strings, booleans, null, safe integers, lists, and objects with ASCII keys (so that
    sorting by code point equals sorting by UTF-16 code unit). Floats are left to rfc8785 (it
    formats numbers as ECMAScript does, Python does not).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, bool | str):
            continue
        if isinstance(item, int):
            if -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                continue
            return False
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not key.isascii():
                    return False
                stack.append(child)
            continue
        if isinstance(item, list | tuple):
            stack.extend(item)
            continue
        return False
    return True


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (sorted keys, normalized numbers, UTF-8).

    Documents made only of strings, booleans, null, safe integers, lists and ASCII-keyed objects
    are written by the standard library, whose output is then byte-identical to RFC 8785 (a
    property test checks it against PyPI ``rfc8785``); anything else goes through ``rfc8785``.
    Raises :class:`InputError` for values JSON cannot hold (NaN, infinity, non-string keys).
    """
    if _plain(value):
        try:
            return json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
        except UnicodeEncodeError as err:  # a lone surrogate: not valid Unicode text
            raise InputError(f"value cannot be written as canonical JSON: {err}") from err
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as err:
        raise InputError(
            f"value cannot be written as canonical JSON: {err}; "
            "use strings, finite numbers, booleans, null, lists and objects with string keys"
        ) from err


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of raw bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return sha256_bytes(canonical_json(value))


def digest_files(entries: Iterable[tuple[str, bytes]]) -> str:
    """Digest over (relative path, content) pairs, in sorted path order."""
    h = hashlib.sha256()
    for path, content in sorted(entries, key=lambda e: e[0]):
        h.update(path.encode("utf-8"))
        h.update(b"\0")
        h.update(hashlib.sha256(content).digest())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


def short_digest(digest_value: str) -> str:
    """The first hex digits of a ``sha256:<hex>`` digest used in ids (``ID_DIGEST_CHARS``)."""
    return digest_value.removeprefix("sha256:")[:ID_DIGEST_CHARS]


def run_id(
    *,
    asset_key: str,
    aoi_key: str,
    time_key: str,
    input_checksums: Mapping[str, str],
    code_ref: str | None,
    params: Mapping[str, Any],
    policy_digest: str,
) -> str:
    """Deterministic run id: ``run:kfm-gate:<digest prefix>``.

    Same asset, partition, inputs, code, params and policies: same id (idempotent
    materialization). Outputs are not part of it: they are what the run produces.
    """
    doc = {
        "asset_key": asset_key,
        "partition": {"aoi_key": aoi_key, "time_key": time_key},
        "inputs": dict(sorted(input_checksums.items())),
        "code_ref": code_ref,
        "params": dict(params),
        "policy_digest": policy_digest,
    }
    return "run:kfm-gate:" + short_digest(digest(doc))


def invalid_request_id(request_digest: str) -> str:
    """The run id of a request that could not be parsed: ``run:kfm-gate:invalid-<24 hex>`` of
    the digest of its bytes (the same bytes give the same run)."""
    return "run:kfm-gate:invalid-" + short_digest(request_digest)


def decision_id(run_id_value: str, decision_body: Mapping[str, Any]) -> str:
    """Deterministic decision id over the run id and the decision's content."""
    return "decision:kfm-gate:" + short_digest(
        digest({"run_id": run_id_value, "decision": dict(decision_body)})
    )


def run_folder_name(run_id_value: str) -> str:
    """The folder of a run under ``mcp/runs/``: the id with ``:`` turned into ``_``.

    Colons are legal in ids but awkward in paths (make, scp, Windows), so folders use ``_``.
    """
    if not ID_RE.match(run_id_value):
        raise InputError(f"run id {run_id_value!r} does not match {ID_RE.pattern}")
    return run_id_value.replace(":", "_")


def validate_time_key(value: str) -> dt.date:
    """Parse a ``YYYY-MM-DD`` UTC day; anything else (or a day that does not exist) is refused."""
    if not isinstance(value, str) or not TIME_KEY_RE.match(value):
        raise PartitionKeyError(
            f"time_key {value!r} is not a date: use YYYY-MM-DD (UTC day), e.g. 2026-11-01"
        )
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise PartitionKeyError(f"time_key {value!r} is not a real calendar day: {err}") from err


def validate_aoi_key(value: str, known: Iterable[str] | None = None) -> str:
    """Check the AOI key's grammar and, when ``known`` is given, that the registry has it."""
    if not isinstance(value, str) or not AOI_KEY_RE.match(value):
        raise PartitionKeyError(
            f"aoi_key {value!r} is not a registry id: lowercase letters, digits and '-', "
            "e.g. ks-county-20045"
        )
    if known is not None:
        known_set = set(known)
        if value not in known_set:
            raise PartitionKeyError(
                f"aoi_key {value!r} is not in the AOI registry ({len(known_set)} AOIs); "
                "add it to data/aoi/ or use a registered id"
            )
    return value


def partition_key(aoi_key: str, time_key: str) -> str:
    """The human-readable partition key ``<aoi_key>|<time_key>``."""
    return f"{aoi_key}|{time_key}"


def parse_partition_key(value: str) -> tuple[str, str]:
    """Inverse of :func:`partition_key`; grammar-checked."""
    aoi, sep, time = value.partition("|")
    if not sep:
        raise PartitionKeyError(f"partition key {value!r} must be '<aoi_key>|<YYYY-MM-DD>'")
    validate_aoi_key(aoi)
    validate_time_key(time)
    return aoi, time
