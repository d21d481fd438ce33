"""Reading a step's structured inputs: JSON checked against a schema at the boundary, so a file
of the wrong shape or type stops with one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from harness.core.args import clip, parse_json
from harness.core.errors import HarnessError


def describe(err: jsonschema.ValidationError) -> str:
    """One line for a schema violation: where in the document, and what."""
    where = "/".join(str(p) for p in err.absolute_path) or "top level"
    if err.validator == "additionalProperties":
        return f"{where}: unexpected key(s) {clip(sorted(set(err.instance) - set(err.schema.get('properties', {}))))}"
    if err.validator == "type":
        return f"{where}: {clip(err.instance, 40)} is not of type {err.validator_value!r}"
    return f"{where}: {err.message[:200]}"


def check_schema(value, schema: dict, what: str):
    """``value`` if it fits ``schema`` (JSON Schema 2020-12), else one line naming ``what``."""
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(value),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        raise HarnessError(f"{what}: {describe(errors[0])}")
    return value


def read_json(path: str | Path, schema: dict, what: str = ""):
    """The JSON document at ``path``, checked against ``schema``."""
    name = f"{what} {path}".strip()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise HarnessError(f"{name}: is a folder, not a file") from None
    except UnicodeDecodeError as err:
        raise HarnessError(f"{name}: not UTF-8 text (byte {err.start})") from None
    return check_schema(parse_json(text, name), schema, name)


def json_value(text: str, schema: dict, what: str):
    """A JSON command-line value, checked against ``schema``."""
    return check_schema(parse_json(text, what), schema, what)


STRINGS = {"type": "array", "items": {"type": "string"}}
COUNT = {"type": "integer", "minimum": 0}
