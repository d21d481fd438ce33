# Shared by every rule file: offline environment, resources and params from the config.
import os
from functools import partial

from harness.core.offline import OFFLINE_ENV
from harness.workflow import smk

# No step contacts a model hub or dataset host: jobs inherit these (local and SLURM alike).
os.environ.update(OFFLINE_ENV)

# resources: **res("odeen_tags"): a rule's entry of config["resources"] over its default.
res = partial(smk.resources, config)
# cfg("odeen.histogram_bins"): a config value that dvc.yaml declares as a stage param.
cfg = partial(smk.config_param, config)
LOGS = "logs/{}.log"
BENCHMARKS = "logs/benchmarks/{}.tsv"
# Where results go: results/ for the embedded default, a sub-folder for the thesis scale, so
# both are committed side by side. Rule paths are RP("family/file").
RP = partial(smk.results_path, config)
