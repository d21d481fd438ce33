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


def odeen_regimes(config: dict) -> list[str]:
    """Every ``<rules>x<structures>`` training regime of Table 3.2, largest first."""
    odeen = config["odeen"]
    regimes = [
        f"{n}x{m}"
        for n in sorted(odeen["train_rules"], reverse=True)
        for m in sorted(odeen["train_structures"], reverse=True)
    ]
    if odeen["main_regime"] not in regimes:
        from harness.core.errors import HarnessError

        raise HarnessError(
            f"config: odeen.main_regime {odeen['main_regime']} is not one of {', '.join(regimes)}"
        )
    return regimes


def lass_sampler(config: dict, name: str) -> str:
    """A LASS sampler's JSON for ``harness lass`` (its table label left out), one shell word."""
    import json
    import shlex

    spec = {k: v for k, v in config["lass"]["samplers"][name].items() if k != "label"}
    return shlex.quote(json.dumps(spec, sort_keys=True, separators=(",", ":")))


def lass_param(config: dict, key: str):
    """A per-dataset LASS config value (``lass.<dataset>.<key>``) as a param of a ``{dataset}``
    rule; dvc.yaml declares each job's own key."""
    return lambda wildcards: ConfigParam(config, f"lass.{wildcards.dataset}.{key}")


def lass_models(dataset: str) -> dict[str, str]:
    """The files a LASS separation reads for one dataset."""
    return {
        "data": f"data/lass/{dataset}.npz",
        "vqvae": f"models/lass/{dataset}/vqvae.pt",
        "prior": f"models/lass/{dataset}/prior.pt",
        "counts": f"models/lass/{dataset}/likelihood.pt",
    }


def results_path(config: dict, relative: str) -> str:
    """A results file of this scale (config ``results_dir``: results, or results/thesis):
    ``results_path(config, "odeen/language.json")``."""
    return f"{config['results_dir'].rstrip('/')}/{relative}"
