# One target per family (`snakemake -c2 lass` builds the LASS family and nothing else), and `all`
# (Snakefile) is every family's target. A family's target names its results and tables and also
# the data its chain starts from. The data are not in git (DVC caches them) while results/ is, so
# on a fresh clone Snakemake builds the data, and every job downstream of them re-runs because its
# input is newer. Without the data among the targets Snakemake would leave each committed result
# as it is, since a job whose outputs exist does not run for an input that is only missing.
family_tables = lambda family: expand(
    RP("tables/{table}.csv"),
    table=[e.id for e in REGISTRY.values() if e.kind == "table" and e.family == family],
)


rule odeen:
    input:
        data=rules.odeen_universe.output,
        language=rules.odeen_rules.output,
        summary=rules.odeen_summary.output,
        report=rules.odeen_report.output,
        tables=family_tables("odeen"),


rule sit:
    input:
        data=SIT_TASKS,
        report=rules.sit_report.output,
        tables=family_tables("sit"),


rule audio:
    input:
        data=expand(DP("audio/{dataset}"), dataset=AUDIO["report"]),
        encoder=FAD_ENCODER,
        report=rules.audio_report.output,


rule lass:
    input:
        data=expand(DP("lass/{dataset}.npz"), dataset=LASS["datasets"]),
        audio=LASS_AUDIO_DATA,
        report=rules.lass_report.output,
        tables=family_tables("lass"),


rule msdm:
    input:
        data=MSDM_DATA,
        report=rules.msdm_report.output,
        listen=rules.msdm_listen.output,
        tables=family_tables("msdm"),


rule gmsdi:
    input:
        data=[MSDM_DATA, GMSDI_SELF_DATA],
        report=rules.gmsdi_report.output,
        self_conditioned=rules.gmsdi_self_generate.output,
        tables=family_tables("gmsdi"),


rule componet:
    input:
        data=expand(DP("audio/{dataset}"), dataset=COMPONET_SETS),
        report=rules.componet_report.output,
        tables=family_tables("componet"),


rule cocola:
    input:
        data=expand(DP("audio/{dataset}"), dataset=COCOLA_SETS),
        report=rules.cocola_report.output,
        tables=family_tables("cocola"),
