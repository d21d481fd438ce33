"""Helpers the Snakemake rule files share (kept in Python so the .smk files hold rules only)."""

from __future__ import annotations

from harness.workflow.params import ConfigParam


def resource(config: dict, rule_name: str, key: str):
    """A resource of a rule from config['resources'], falling back to its `default` entry."""
    per_rule = config["resources"].get(rule_name, {})
    return per_rule.get(key, config["resources"]["default"][key])


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
