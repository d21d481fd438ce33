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
include: "workflow/rules/cocola.smk"
include: "workflow/rules/tables.smk"


rule all:
    default_target: True
    input:
        # the tracked data artifacts too, so a fresh clone (results/ committed) builds them
        rules.odeen_rules.output,
        rules.odeen_tags.output,
        rules.odeen_summary.output,
        rules.results_index.output,
        rules.audio_report.output,
        rules.msdm_report.output,
        rules.msdm_listen.output,
        rules.gmsdi_report.output,
        rules.gmsdi_self_generate.output,
        rules.cocola_report.output,
