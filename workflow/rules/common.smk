# Helpers every rule file shares.
import os

from harness.cli import OFFLINE_ENV
from harness.workflow.params import ConfigParam

# No step contacts a model hub or dataset host: jobs inherit these (local and SLURM alike).
os.environ.update(OFFLINE_ENV)


def res(rule_name, key):
    """A resource of a rule from config['resources'], falling back to its `default` entry."""
    per_rule = config["resources"].get(rule_name, {})
    return per_rule.get(key, config["resources"]["default"][key])


def log_path(name):
    return f"logs/{name}.log"


def bench_path(name):
    return f"logs/benchmarks/{name}.tsv"


def cfg(key):
    """A config value as a rule param that remembers its key (for dvc.yaml `params:`)."""
    return ConfigParam(config, key)
