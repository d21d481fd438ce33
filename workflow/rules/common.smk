# Shared by every rule file: offline environment, resources, params, per-scale paths and code.
import os
import shlex
from functools import partial

from harness.core.offline import OFFLINE_ENV
from harness.workflow import smk

# No step contacts a model hub or dataset host: jobs inherit these (local and SLURM alike).
os.environ.update(OFFLINE_ENV)

# resources: **res("odeen_tags"): a rule's entry of config["resources"] over its default.
res = partial(smk.resources, config)
# cfg("odeen.histogram_bins"): a config value that dvc.yaml declares as a stage param.
cfg = partial(smk.config_param, config)
# dvc_param("lass.samplers"): a config key the command gets in another form (a lambda, a file);
# listed as a param only so that dvc.yaml re-runs the stage when it changes. Keep it.
dvc_param = partial(smk.dvc_param, config)
# wcfg("lass.{dataset}.vqvae"): a per-job config value picked by the job's wildcards.
wcfg = partial(smk.wildcard_param, config)
# Every artifact of a scale lives under that scale's roots (config results_dir, data_dir,
# models_dir, checkpoints_dir, logs_dir): results/, data/, ... for the embedded default, their
# thesis/ sub-folders at thesis scale, so the two scales never write the same file. Downloaded
# archives are shared (config downloads_dir).
RP = partial(smk.scale_path, config, "results_dir")
DP = partial(smk.scale_path, config, "data_dir")
MP = partial(smk.scale_path, config, "models_dir")
CP = partial(smk.scale_path, config, "checkpoints_dir")
DOWNLOADS = config["downloads_dir"].rstrip("/")
LOGS = smk.scale_path(config, "logs_dir", "{}.log")  # LOGS.format("odeen/tags")
BENCHMARKS = smk.scale_path(config, "logs_dir", "benchmarks/{}.tsv")
# CODE("lass", "separate"): the source files `harness lass separate` runs (the modules it imports,
# shared ones included, and data files such as the tables registry), every rule's `code` input:
# Snakemake and dvc.yaml re-run exactly the steps a code change can affect.
CODE = smk.command_code
