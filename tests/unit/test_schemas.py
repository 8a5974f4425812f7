"""Every command with --json has a JSON Schema in docs/schemas, and each is a valid one."""

import json
from pathlib import Path

import jsonschema
import pytest

from difflayers.cli.parser import COMMANDS, build_parser, subparser

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def takes_json(command: str) -> bool:
    return any("--json" in action.option_strings for action in subparser(build_parser(), command)._actions)


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if takes_json(c)))
def test_each_json_output_has_a_valid_schema(command):
    schema = json.loads((SCHEMAS / f"{command}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


def test_a_document_missing_a_field_is_refused():
    schema = json.loads((SCHEMAS / "verify.schema.json").read_text())
    good = {
        "schema": 1,
        "image_a": "a",
        "image_b": "b",
        "path": None,
        "equal": True,
        "equality": "byte-exact",
        "equivalent_bytecode": [],
        "config_differences": [],
        "tree_differences": [],
    }
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in good.items() if k != "equal"}, schema)
