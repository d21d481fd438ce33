# Thesis tables (thesis value beside ours) and the results index.
from harness.tables.registry import load_registry

REGISTRY = load_registry()
TABLES = [e.id for e in REGISTRY.values() if e.kind == "table"]
# Our values per table: the results file a family's rule writes (row, column, ours).
# A table with no entry here is built with an empty `ours` column (status: pending).
TABLE_SOURCES = {}


def table_source(wildcards):
    return TABLE_SOURCES.get(wildcards.table, [])


def ours_option(wildcards, input):
    return f"--ours {input.ours}" if input.ours else ""


wildcard_constraints:
    table="table_[0-9]+_[0-9]+",


rule table:
    input:
        ours=table_source,
    output:
        md="results/tables/{table}.md",
        tex="results/tables/{table}.tex",
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    params:
        scale=cfg("scale"),
        ours=ours_option,
        caption=lambda wildcards: REGISTRY[wildcards.table].caption,
    log:
        log_path("tables/{table}"),
    benchmark:
        bench_path("tables/{table}")
    resources:
        mem_mb=res("table", "mem_mb"),
        runtime=res("table", "runtime"),
        cpus_per_task=res("table", "cpus_per_task"),
    conda:
        "../../envs/tables.yaml"
    shell:
        "harness tables build --id {wildcards.table} --scale {params.scale} {params.ours}"
        " --out-dir results/tables --log {log}"


rule results_index:
    input:
        expand("results/tables/{table}.csv", table=TABLES),
    output:
        "results/README.md",
    log:
        log_path("tables/index"),
    benchmark:
        bench_path("tables/index")
    resources:
        mem_mb=res("results_index", "mem_mb"),
        runtime=res("results_index", "runtime"),
        cpus_per_task=res("results_index", "cpus_per_task"),
    conda:
        "../../envs/tables.yaml"
    shell:
        "harness tables index --out {output} --tables-dir results/tables"
        " --figures-dir results/figures --log {log}"
