"""Config loading and validation against workflow/schemas/config.schema.yaml.

An unknown key or a wrong type stops the run with one line naming the key and the problem.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

from harness.core.errors import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge, as Snakemake layers several --configfile files."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _describe(err: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        if err.schema.get("patternProperties"):
            import re

            patterns = list(err.schema["patternProperties"])
            extra = [k for k in extra if not any(re.search(p, k) for p in patterns)]
        return f"config: unknown key {', '.join(map(repr, extra))} in {where}"
    return f"config: {where}: {err.message}"


@functools.cache
def _schema(schema_path: Path = SCHEMA_PATH) -> dict:
    with open(schema_path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def config_subschema(pointer: str) -> dict:
    """The config schema's part at a JSON pointer (``/$defs/lass_vqvae``,
    ``/properties/audio/properties/synthpop``), with the ``$defs`` it may refer to: a rule
    passes that config entry as JSON, and the step checks it against the same rules."""
    root = _schema()
    node = root
    for key in pointer.strip("/").split("/"):
        node = node[key]
    return {**node, "$defs": root["$defs"]}


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    schema = _schema(schema_path)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        raise HarnessError(_describe(errors[0]))
    _cross_checks(config)
    return config


def _cross_checks(config: dict) -> None:
    """Constraints between keys, which the JSON schema cannot state."""
    odeen = config.get("odeen") or {}
    if odeen and odeen["test_exactly_two"] > odeen["n_test"]:
        raise HarnessError(
            f"config: odeen.test_exactly_two ({odeen['test_exactly_two']}) exceeds odeen.n_test ({odeen['n_test']})"
        )
    if odeen and odeen["main_regime"] not in {
        f"{n}x{m}" for n in odeen["train_rules"] for m in odeen["train_structures"]
    }:
        raise HarnessError(
            f"config: odeen.main_regime {odeen['main_regime']!r} is not one of the train_rules x train_structures regimes"
        )
    if odeen and len(set(odeen["train_rules"])) != len(odeen["train_rules"]):
        raise HarnessError("config: odeen.train_rules lists a size twice")
    lass = config.get("lass") or {}
    if lass and lass["test"]["sampler"] not in lass["samplers"]:
        raise HarnessError(
            f"config: lass.test.sampler {lass['test']['sampler']!r} is not under lass.samplers"
        )
    if lass and lass["nmf"]["components"] > lass["nmf"]["train_images"]:
        raise HarnessError("config: lass.nmf.components exceeds lass.nmf.train_images")
    msdm = config.get("msdm") or {}
    for name, variant in (msdm.get("separation", {}).get("variants") or {}).items():
        if variant.get("constrained", msdm["stems"][-1]) not in msdm["stems"]:
            raise HarnessError(
                f"config: msdm.separation.variants.{name}.constrained {variant['constrained']!r} is not one of msdm.stems"
            )
    for key in msdm.get("checkpoint") or {}:
        if key.startswith("isdm_") and key[5:] not in msdm["stems"]:
            raise HarnessError(f"config: msdm.checkpoint.{key} names no stem of msdm.stems")


def load_config(*paths: str | Path) -> dict:
    config: dict = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh) or {}
        except FileNotFoundError:
            raise HarnessError(f"config file {path} does not exist") from None
        except yaml.YAMLError as err:
            raise HarnessError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise HarnessError(f"config file {path} must hold a mapping")
        config = merge(config, loaded)
    return validate_config(config)


def json_arg(text: str, what: str):
    """A command-line argument holding JSON (a rule passes config sections so); bad JSON stops
    with one line naming the argument (``core.args.parse_json``: depth and NaN checked too)."""
    from harness.core.args import parse_json

    return parse_json(text, what)


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def settings(cls, mapping, what: str):
    """A settings dataclass filled from a config mapping (a rule passes the config's entry as
    JSON): every field must be there and no other key, numbers of the field's type. The
    dataclasses hold no defaults, so the config is the one home of every setting."""
    import dataclasses

    if not isinstance(mapping, dict):
        raise HarnessError(f"{what} must be a JSON mapping, got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise HarnessError(f"{what}: unknown key {unknown[0]!r} (expected {', '.join(fields)})")
    missing = [name for name in fields if name not in mapping]
    if missing:
        raise HarnessError(f"{what}: missing key {missing[0]!r}")
    values = {}
    for name, field in fields.items():
        annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
        value, kind = mapping[name], _TYPES.get(annotation)
        if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise HarnessError(f"{what}: {name} must be a number, got {value!r}")
        if kind is int and float(value) != int(value):
            raise HarnessError(f"{what}: {name} must be a whole number, got {value!r}")
        values[name] = kind(value) if kind in (int, float) else value
    return cls(**values)


def settings_arg(cls, text: str, what: str):
    """A settings dataclass from a command-line argument holding the config's entry as JSON
    (``--settings '{"steps": 1500, ...}'``): ``json_arg`` then ``settings``."""
    return settings(cls, json_arg(text, what), what)
