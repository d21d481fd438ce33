# Thesis tables (thesis value beside ours) and the results index.
from harness.tables.registry import load_registry

REGISTRY = load_registry()
TABLES = [e.id for e in REGISTRY.values() if e.kind == "table"]
# Our values per table: the results file a family's rule writes (row, column, ours).
# A table with no entry here is built with an empty `ours` column (status: pending).
TABLE_SOURCES = {
    "table_3_1": rules.odeen_report.output.table_3_1,
    "table_3_2": rules.odeen_report.output.table_3_2,
    "text_3_exactly_two": rules.odeen_report.output.exactly_two,
    "text_3_strict_crn": rules.odeen_report.output.strict,
    "table_4_3": rules.sit_report.output.table,
    "table_5_1": rules.lass_report.output.table_5_1,
    "table_5_2": rules.lass_report.output.table_5_2,
    "table_5_3": rules.lass_report.output.table_5_3,
    "table_5_4": rules.lass_report.output.table_5_4,
    "table_5_5": rules.lass_report.output.table_5_5,
    "table_6_1": rules.msdm_report.output.table_6_1,
    "table_6_2": rules.msdm_report.output.table_6_2,
    "table_6_3": rules.msdm_report.output.table_6_3,
    "table_6_4": rules.gmsdi_report.output.table_6_4,
    "table_6_5": rules.gmsdi_report.output.table_6_5,
    "table_6_6": rules.componet_report.output.table_6_6,
    "table_6_7": rules.componet_report.output.table_6_7,
    "table_6_8": rules.componet_report.output.table_6_8,
    "table_7_1": rules.cocola_report.output.table_7_1,
}


wildcard_constraints:
    table="(table|text)_[0-9]+_[0-9a-z_]+",


rule table:
    input:
        ours=smk.results_input(TABLE_SOURCES),
        code=CODE("tables", "build"),
    output:
        md=RP("tables/{table}.md"),
        tex=RP("tables/{table}.tex"),
        csv=report(
            RP("tables/{table}.csv"),
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        LOGS.format("tables/{table}"),
    benchmark:
        BENCHMARKS.format("tables/{table}")
    conda:
        "../../envs/tables.yaml"
    threads: 1
    resources:
        **res("table"),
    params:
        scale=cfg("scale"),
        results=cfg("results_dir"),
        ours=smk.ours_option,
        # read by the report template (workflow/report/table.rst), not by the command
        caption=lambda wildcards: REGISTRY[wildcards.table].caption,
    shell:
        "harness tables build --id {wildcards.table} --scale {params.scale} {params.ours}"
        " --out-dir {params.results}/tables --figures-dir {params.results}/figures --log {log}"


rule results_index:
    input:
        expand(RP("tables/{table}.csv"), table=TABLES),
        # figures are drawn by the family rules; the index links the ones that exist
        rules.odeen_report.output.figure_3_6,
        rules.odeen_report.output.figure_exactly_two,
        rules.sit_report.output.figure,
        rules.lass_report.output.figure,
        rules.cocola_report.output.figure,
        rules.gmsdi_report.output.figure_6_4,
        rules.gmsdi_report.output.figure_6_5,
        code=CODE("tables", "index"),
    output:
        RP("README.md"),
    log:
        LOGS.format("tables/index"),
    benchmark:
        BENCHMARKS.format("tables/index")
    conda:
        "../../envs/tables.yaml"
    threads: 1
    resources:
        **res("results_index"),
    params:
        results=cfg("results_dir"),
    shell:
        "harness tables index --out {output} --tables-dir {params.results}/tables"
        " --figures-dir {params.results}/figures --log {log}"
