# harness: one DAG from data to every thesis table and figure.
# Embedded default: `snakemake -c2` (config.yaml). Thesis scale: `snakemake --profile slurm`
# or `--profile gpu`, which layer config/thesis.yaml over config.yaml.
from harness.core.config import validate_config


configfile: "config.yaml"


validate_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/odeen.smk"
include: "workflow/rules/sit.smk"
include: "workflow/rules/audio.smk"
include: "workflow/rules/lass.smk"
include: "workflow/rules/msdm.smk"
include: "workflow/rules/lass_audio.smk"
include: "workflow/rules/gmsdi.smk"
include: "workflow/rules/componet.smk"
include: "workflow/rules/cocola.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/targets.smk"


rule all:
    default_target: True
    input:
        # every family's target (workflow/rules/targets.smk): its data, results and tables
        rules.odeen.input,
        rules.sit.input,
        rules.audio.input,
        rules.lass.input,
        rules.msdm.input,
        rules.gmsdi.input,
        rules.componet.input,
        rules.cocola.input,
        rules.results_index.output,
