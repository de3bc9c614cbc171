"""Shared model configuration: frozen, no unknown fields, a schema version on every document.

Governance values are strict: a field a policy depends on takes exactly its JSON type.
:data:`Flag` is a JSON boolean only (never ``"false"``, ``"no"`` or ``0``), :data:`Text` a
string only, :data:`Day` a ``YYYY-MM-DD`` string (or a date read from YAML) only (never a
number of seconds nor a timestamp); enums are ``Literal`` types, matched exactly. A wrong
type is a validation error that :func:`describe_validation_error` turns into one line per
invalid field, naming the field and the expected type.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict, ValidationError

SCHEMA_VERSION = "1"

#: a JSON value, as policies and records see it
JsonValue = Any

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _strict_day(value: Any) -> dt.date:
    if type(value) is dt.date:
        return value
    if isinstance(value, str) and _DAY_RE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as err:
            raise ValueError(f"{value!r} is not a real calendar day") from err
    raise ValueError(f"expected a day as a 'YYYY-MM-DD' string, got {json_type(value)}")


#: a JSON boolean, nothing else
Flag = Annotated[bool, Strict()]
#: a JSON string, nothing else
Text = Annotated[str, Strict()]
#: a calendar day: a ``YYYY-MM-DD`` string (or a ``datetime.date`` read from YAML)
Day = Annotated[dt.date, BeforeValidator(_strict_day)]


class KfmModel(BaseModel):
    """Base of every kfm-gate model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums and dates as strings, ``None`` fields kept)."""
        return self.model_dump(mode="json", by_alias=True)


def json_type(value: Any) -> str:
    """The JSON name of a value's type (``string``, ``number``, ``boolean``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


_EXPECTED = {
    "bool_type": "expected a JSON boolean (true or false)",
    "bool_parsing": "expected a JSON boolean (true or false)",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "tuple_type": "expected an array",
    "list_type": "expected an array",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "missing": "is required",
    "extra_forbidden": "is not a field of this document (check its spelling)",
}
_SHOW_TYPE = frozenset(
    {
        "bool_type",
        "bool_parsing",
        "string_type",
        "int_type",
        "float_type",
        "tuple_type",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "literal_error",
    }
)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("inputs", 0, "flags", "x")`` -> ``inputs[0].flags.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def validation_problems(err: ValidationError) -> list[str]:
    """One ``<field>: <what is wrong>`` line per invalid field (every one of them)."""
    problems = []
    for item in err.errors(include_url=False):
        kind = str(item["type"])
        if kind == "value_error":
            msg = str(item["msg"]).removeprefix("Value error, ")
        elif kind == "literal_error":
            expected = (item.get("ctx") or {}).get("expected", "")
            msg = f"expected exactly one of {expected}"
        else:
            msg = _EXPECTED.get(kind, str(item["msg"]))
        if kind in _SHOW_TYPE:
            msg += f", got {json_type(item.get('input'))}"
        if len(msg) > 300:
            msg = msg[:300] + "..."
        problems.append(f"{field_path(tuple(item['loc']))}: {msg}")
    return problems


def describe_validation_error(err: ValidationError, what: str) -> str:
    """``<what>: N invalid field(s): <field>: <problem>; ...`` listing every invalid field."""
    problems = validation_problems(err)
    return f"{what}: {len(problems)} invalid field(s): " + "; ".join(problems)
