"""Helpers the Snakemake rule files share (kept in Python so the .smk files hold rules only).

Nothing here knows a family's files: the rule files name their own paths through the per-scale
roots (``scale_path``) and their own code through ``command_code``.
"""

from __future__ import annotations

import json
import shlex

from harness.workflow.params import ConfigParam
from harness.workflow.sources import command_sources


def resources(config: dict, rule_name: str) -> dict:
    """A rule's resources: its config['resources'] entry over the `default` entry.

    ``gpu`` is left out when zero, so CPU rules never ask a SLURM cluster for a GPU.
    """
    merged = dict(config["resources"]["default"], **config["resources"].get(rule_name, {}))
    if not merged.get("gpu"):
        merged.pop("gpu", None)
    return merged


def config_param(config: dict, key: str) -> ConfigParam:
    """A config value as a rule param that remembers its key (for dvc.yaml `params:`)."""
    return ConfigParam(config, key)


def dvc_param(config: dict, key: str) -> ConfigParam:
    """A config value the shell command does not format, declared only so that dvc.yaml lists the
    key as the stage's param (the command receives it in another form, e.g. through a lambda):
    removing it would stop ``dvc repro`` from re-running the stage when the key changes."""
    return ConfigParam(config, key)


def wildcard_param(config: dict, template: str):
    """A param of a wildcard rule whose config key names a wildcard: ``"lass.{dataset}.vqvae"``
    gives each job its own key (and dvc.yaml declares that key for that stage only)."""
    return lambda wildcards: ConfigParam(config, template.format(**dict(wildcards.items())))


def json_word(value: dict, drop: tuple[str, ...] = ()) -> str:
    """A mapping (less the keys ``drop``) as one shell word of compact JSON."""
    spec = {k: v for k, v in value.items() if k not in drop}
    return shlex.quote(json.dumps(spec, sort_keys=True, separators=(",", ":")))


def results_input(sources: dict[str, str]):
    """Input function: the results file (row, column, ours) a family writes for a table."""

    def source(wildcards):
        return sources.get(wildcards.table, [])

    return source


def ours_option(wildcards, input) -> str:
    return f"--ours {input.ours}" if input.ours else ""


def scale_path(config: dict, root: str, relative: str) -> str:
    """A file under one of this scale's roots (config ``results_dir``, ``data_dir``,
    ``models_dir``, ``checkpoints_dir``): ``scale_path(config, "data_dir", "odeen/tags.npz")`` is
    data/odeen/tags.npz at the embedded scale and data/thesis/odeen/tags.npz at thesis scale."""
    return f"{config[root].rstrip('/')}/{relative}"


def results_path(config: dict, relative: str) -> str:
    """A results file of this scale: ``results_path(config, "odeen/language.json")``."""
    return scale_path(config, "results_dir", relative)


def command_code(family: str, step: str) -> list[str]:
    """The source files ``harness <family> <step>`` runs, as a rule's ``code`` input."""
    return list(command_sources(family, step))
