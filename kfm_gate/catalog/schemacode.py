"""Compiled validator code for the STAC schemas (fastjsonschema), built once at setup.

fastjsonschema turns a JSON schema into Python source that validates about eight times
faster than jsonschema, but generating and compiling that source costs ~190 ms per process
(the item schema alone is 350 kB of code), which a one-partition Dagster run would pay for a
2 ms saving. So the code is generated once, at setup (``make`` runs ``python -m
kfm_gate.catalog.schemacode``), into ``kfm_gate/catalog/_compiled/`` (not versioned), and
byte-compiled there; a process then loads a validator in about a millisecond.

Each generated module starts with the key of what it was built from (every vendored schema
file, the fastjsonschema version and the options): a module whose key differs from the
current one (a schema was updated, fastjsonschema upgraded) is never loaded, and validation
falls back to jsonschema until the code is rebuilt. References resolve from the vendored
files only, never from the network. ``KFM_SCHEMA_CODE_DIR`` points at another folder.

Only :func:`kfm_gate.catalog.stac.validate_stac` uses these validators, and only to accept a
document: whatever they do not accept is decided and worded by jsonschema.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from kfm_gate.errors import RecordError

ENV_DIR = "KFM_SCHEMA_CODE_DIR"
DEFAULT_DIR = Path(__file__).resolve().parent / "_compiled"
#: the file written last by a build: the key of what it was built from
KEY_FILE = "KEY"
#: ``$schema`` values of the schemas compiled: fastjsonschema picks its draft from this value
#: (draft 2019-09 when absent) whereas jsonschema defaults to draft 7 here, so a schema of
#: another or no declared draft is left to jsonschema alone
FAST_DRAFTS = frozenset(
    {"http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema"}
)
#: formats are not checked (neither does the jsonschema validator), and defaults are never
#: written into the document
USE_DEFAULT = False
USE_FORMATS = False
_HEADER = "# kfm-gate schema key: "
_ENTRY = re.compile(r"^def (validate_\w+)\(", re.MULTILINE)

Validator = Callable[[Any], Any]


def code_dir() -> Path:
    """Where the generated modules live (``$KFM_SCHEMA_CODE_DIR`` or the default)."""
    return Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)


def _slug(url: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", url.removeprefix("https://")).strip("_")


@cache
def schema_key() -> str:
    """The digest of every vendored schema (URL and bytes), the fastjsonschema version and
    the options: what a generated module must have been built from to be used."""
    import fastjsonschema

    from kfm_gate.catalog.stac import stac_validator_schema_map

    h = hashlib.sha256()
    options = f"use_default={USE_DEFAULT} use_formats={USE_FORMATS}"
    h.update(f"fastjsonschema {fastjsonschema.VERSION} {options}\n".encode())
    for url, path in sorted(stac_validator_schema_map().items()):
        h.update(url.encode() + b"\n" + Path(path).read_bytes() + b"\n")
    return h.hexdigest()


def offline_schema(uri: str) -> Any:
    """A referenced schema, from the vendored copies or the JSON Schema meta-schemas that
    ship with jsonschema; never from the network (fastjsonschema would otherwise fetch any
    reference it cannot resolve with ``urllib``). A fresh copy every time: fastjsonschema
    rewrites the ``$ref`` values of what it is given."""
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped]
    from referencing.exceptions import NoSuchResource

    from kfm_gate.catalog.stac import stac_validator_schema_map

    url = uri.partition("#")[0]
    path = stac_validator_schema_map().get(url)
    if path is not None:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        return copy.deepcopy(REGISTRY.contents(url))
    except NoSuchResource:
        raise RecordError(
            f"schema {uri} is not in the offline STAC schema cache (kfm_gate/specs/stac); "
            "schemas are never downloaded: vendor it there"
        ) from None


class OfflineHandlers(Mapping[str, Any]):
    """fastjsonschema ``handlers`` that claim every URI scheme, so that no reference (http,
    https, file, ftp or none at all) ever reaches fastjsonschema's ``urllib`` fallback."""

    def __getitem__(self, scheme: str) -> Any:
        return offline_schema

    def __iter__(self) -> Iterator[str]:
        return iter(("http", "https"))

    def __len__(self) -> int:
        return 2


def generate(url: str) -> str | None:
    """The module source of the validator of schema ``url``, or None when it is not
    compiled: not vendored, not draft 7, or not compilable offline (e.g. the projection
    extension refers to the PROJJSON schema, which is not vendored)."""
    import fastjsonschema

    from kfm_gate.catalog.stac import stac_validator_schema_map

    path = stac_validator_schema_map().get(url)
    if path is None:
        return None
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(schema, dict) or schema.get("$schema") not in FAST_DRAFTS:
        return None
    try:
        code = fastjsonschema.compile_to_code(
            schema, handlers=OfflineHandlers(), use_default=USE_DEFAULT, use_formats=USE_FORMATS
        )
    except Exception:  # any failure to compile leaves the schema to jsonschema alone
        return None
    entry = _ENTRY.search(code)
    if entry is None:  # pragma: no cover - fastjsonschema always starts with the root
        return None
    return (
        f"{_HEADER}{schema_key()}\n"
        f"# Validator of {url}, generated by `python -m kfm_gate.catalog.schemacode` with\n"
        "# fastjsonschema (its output, not hand-written code): do not edit, rebuild.\n"
        f"{code}\n\nKFM_VALIDATE = {entry.group(1)}\n"
    )


def build_schema_code(directory: Path | None = None) -> list[Path]:
    """Generate and byte-compile the validator of every vendored draft-7 schema into
    ``directory`` (default :func:`code_dir`); returns the modules written. The key file is
    written last, so an interrupted build is never mistaken for a finished one."""
    import py_compile

    from kfm_gate.catalog.stac import stac_validator_schema_map

    out = directory or code_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / KEY_FILE).unlink(missing_ok=True)
    written = []
    for url in sorted(stac_validator_schema_map()):
        target = out / f"{_slug(url)}.py"
        source = generate(url)
        if source is None:
            target.unlink(missing_ok=True)
            continue
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(target)
        py_compile.compile(str(target), doraise=True)
        written.append(target)
    (out / KEY_FILE).write_text(schema_key() + "\n", encoding="utf-8")
    return written


@cache
def load_validator(url: str) -> Validator | None:
    """The generated validator of schema ``url`` (loaded once per process), or None when
    there is none built from the current schemas (then jsonschema validates)."""
    path = code_dir() / f"{_slug(url)}.py"
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
    except OSError:
        return None
    if first.strip() != f"{_HEADER}{schema_key()}":
        return None  # built from other schemas or another fastjsonschema: not used
    name = f"kfm_gate_schemacode_{_slug(url)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception:  # a damaged module is not used: jsonschema validates
        return None
    validate: Validator | None = getattr(module, "KFM_VALIDATE", None)
    return validate


def main(argv: list[str] | None = None) -> int:
    """``python -m kfm_gate.catalog.schemacode [DIR]``: build the validators."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else None
    try:
        written = build_schema_code(directory)
    except (OSError, RecordError) as err:
        print(f"kfm-gate: cannot build the STAC validator code: {err}", file=sys.stderr)
        return 2
    where = directory or code_dir()
    print(f"built {len(written)} STAC schema validators in {where} (key {schema_key()[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
