from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from kfm_gate.models import EXPORTED, export_json_schemas
from tests.helpers import make_request


def test_exported_schemas_validate_a_request(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path / "schemas")
    assert {p.name for p in written} == {f"{n}.schema.json" for n in EXPORTED}
    schema = json.loads((tmp_path / "schemas" / "promotion_request.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    request = make_request(tmp_path, write=False)
    jsonschema.validate(request, schema)
    request["colour"] = "red"
    try:
        jsonschema.validate(request, schema)
    except jsonschema.ValidationError:
        pass
    else:  # pragma: no cover - the test must be able to fail
        raise AssertionError("extra field accepted by the exported schema")
