"""Helpers the Snakemake rule files share (kept in Python so the .smk files hold rules only)."""

from __future__ import annotations

from harness.workflow.params import ConfigParam


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


def results_input(sources: dict[str, str]):
    """Input function: the results file (row, column, ours) a family writes for a table."""

    def source(wildcards):
        return sources.get(wildcards.table, [])

    return source


def ours_option(wildcards, input) -> str:
    return f"--ours {input.ours}" if input.ours else ""
