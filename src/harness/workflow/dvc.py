"""Generate dvc.yaml from the Snakemake DAG: one stage per job, the very same shell command.

Deps are the job's inputs, which name the source files the command runs (each rule's ``code``
input, from ``harness.workflow.sources``: the same list Snakemake watches); outs are the
job's outputs (results/ is committed to git, so its files are `cache: false`; data/ is cached
by DVC). Outputs named ``metrics`` become DVC metrics, outputs named ``plot`` DVC plots (axes
from the rule's ``plot_x`` / ``plot_y`` params), and params that came from ``cfg("a.b")`` are
declared as ``config.yaml`` params of the stage.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import yaml

from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.workflow.params import ConfigParam

HEADER = (
    "# Generated from the Snakemake DAG by `harness workflow dvc-yaml`; do not edit by hand.\n"
    "# Each stage runs the same command as the Snakemake rule of the same name.\n"
)


def dag_jobs(snakefile: str = "Snakefile", configfiles: list[str] | None = None) -> list:
    """All jobs of the DAG (as if every output were missing), in topological order."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    configfiles = [Path(c) for c in (configfiles or ["config.yaml"])]
    with (
        contextlib.redirect_stdout(io.StringIO()),
        SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api,
    ):
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=configfiles),
            snakefile=Path(snakefile),
            workdir=Path.cwd(),
        )
        workflow = workflow_api.dag(DAGSettings(forceall=True)).workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        return [job for level in workflow.dag.toposorted() for job in sorted(level, key=stage_name)]


def stage_name(job) -> str:
    return "_".join([job.rule.name, *[str(v) for v in job.wildcards]])


def stage_for(job) -> dict:
    cmd = " ".join(str(job.shellcmd).split())
    # the rule's `code` input: the source files it runs; a file two inputs name (the report's
    # --timing and --timing-thesis-settings where the test run is at the thesis's settings) once
    deps = list(dict.fromkeys(str(f) for f in job.input))
    # cfg("a.b") params of the rule, and those an input function returned for this job
    evaluated = [p for p in job.params if isinstance(p, ConfigParam)]
    params = sorted({p.key for p in [*job.rule.params, *evaluated] if isinstance(p, ConfigParam)})
    kinds = {str(path): name for name, path in job.output.items()}  # named outputs
    raw_params = dict(job.rule.params.items())
    stage: dict = {"cmd": cmd, "deps": deps}
    if params:
        stage["params"] = [{"config.yaml": params}]
    outs, metrics, plots = [], [], []
    for f in map(str, job.output):
        committed = f.startswith("results/")
        if kinds.get(f) == "metrics":
            metrics.append({f: {"cache": False}})
        elif kinds.get(f) == "plot":
            props = {"cache": False}
            for axis in ("x", "y"):
                if f"plot_{axis}" in raw_params:
                    props[axis] = str(raw_params[f"plot_{axis}"])
            plots.append({f: props})
        else:
            outs.append({f: {"cache": False}} if committed else f)
    for key, value in (("outs", outs), ("metrics", metrics), ("plots", plots)):
        if value:
            stage[key] = value
    return stage


def generate(configfiles: list[str] | None = None) -> str:
    from harness.core.config import load_config

    if not Path("Snakefile").is_file():
        raise HarnessError("no Snakefile here: run `harness workflow dvc-yaml` from the repository root")
    load_config(*(configfiles or ["config.yaml"]))  # a bad config stops here, in one line
    try:
        jobs = dag_jobs(configfiles=configfiles)
    except Exception as err:  # Snakemake's own errors (a rule that cannot be planned) are one line too
        raise HarnessError(f"Snakemake could not plan the DAG: {' '.join(str(err).split())[:300]}") from None
    stages = {}
    for job in jobs:
        if not job.rule.shellcmd:
            continue  # target-only rules such as `all`
        stages[stage_name(job)] = stage_for(job)
    if not stages:
        raise HarnessError("the Snakemake DAG has no shell jobs")
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


def write_dvc_yaml(out: str, configfiles: list[str] | None = None, check: bool = False) -> None:
    text = generate(configfiles)
    if check:
        current = Path(out).read_text(encoding="utf-8") if os.path.exists(out) else ""
        if current != text:
            raise HarnessError(f"{out} is stale: regenerate it with `harness workflow dvc-yaml --out {out}`")
        return
    write_text(out, text)
