# Symbol Interpretation Task (thesis ch. 4): tasks, the symbolic solver, language models,
# Table 4.3 and Figure 4.2.
from harness.sit.world import SUBTASKS

SIT_SOURCE = config["sit"]["source"]
SIT_TASKS = expand(DP(f"sit/{SIT_SOURCE}/{{subtask}}.json"), subtask=SUBTASKS)
SIT_BUILTIN = ["solver", "random"]
# the config's order is Table 4.3's row order
SIT_MODELS = SIT_BUILTIN + list(config["sit"]["models"])


# A language model's own sit.models entry (none for the solver and random choice).
sit_model_spec = lambda wildcards: (
    "'{}'" if wildcards.model in SIT_BUILTIN else wcfg("sit.models.{model}")(wildcards)
)


wildcard_constraints:
    subtask="|".join(SUBTASKS),
    model="[a-z0-9_]+",


rule sit_generate:
    input:
        code=CODE("sit", "generate"),
    output:
        DP("sit/generated/{subtask}.json"),
    log:
        LOGS.format("sit/generate_{subtask}"),
    benchmark:
        BENCHMARKS.format("sit/generate_{subtask}")
    conda:
        "../../envs/sit.yaml"
    threads: 1
    resources:
        **res("sit_generate"),
    params:
        seed=cfg("seed"),
        per_group=cfg("sit.per_group"),
    shell:
        "harness sit generate --subtask {wildcards.subtask} --per-group {params.per_group}"
        " --seed {params.seed} --out {output} --log {log}"


rule sit_fetch:
    input:
        code=CODE("sit", "fetch"),
    output:
        DP("sit/bigbench/{subtask}.json"),
    log:
        LOGS.format("sit/fetch_{subtask}"),
    benchmark:
        BENCHMARKS.format("sit/fetch_{subtask}")
    conda:
        "../../envs/sit.yaml"
    threads: 1
    resources:
        **res("sit_fetch"),
    params:
        url=cfg("sit.bigbench.url"),
        revision=cfg("sit.bigbench.revision"),
        sha256=wcfg("sit.bigbench.sha256.{subtask}"),
    shell:
        "harness sit fetch --subtask {wildcards.subtask} --url '{params.url}'"
        " --revision {params.revision} --sha256 '{params.sha256}' --out {output} --log {log}"


rule sit_evaluate:
    input:
        tasks=SIT_TASKS,
        code=CODE("sit", "evaluate"),
    output:
        scores=RP("sit/scores/{model}.csv"),
        meta=RP("sit/scores/{model}.json"),
    log:
        LOGS.format("sit/evaluate_{model}"),
    benchmark:
        BENCHMARKS.format("sit/evaluate_{model}")
    conda:
        "../../envs/sit.yaml"
    threads: 2
    resources:
        **res("sit_evaluate"),
    params:
        spec=sit_model_spec,
        per_group=cfg("sit.lm_per_group"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness sit evaluate --model {wildcards.model} --spec {params.spec}"
        " --tasks {input.tasks} --per-group {params.per_group} --seed {params.seed}"
        " --device {params.device} --threads {threads}"
        " --out {output.scores} --meta {output.meta} --log {log}"


rule sit_report:
    input:
        scores=expand(RP("sit/scores/{model}.csv"), model=SIT_MODELS),
        meta=expand(RP("sit/scores/{model}.json"), model=SIT_MODELS),
        code=CODE("sit", "report"),
    output:
        table=RP("sit/table_4_3.csv"),
        plot=RP("sit/accuracy.csv"),
        figure=report(
            RP("figures/figure_4_2.png"),
            caption="../report/sit_figure_4_2.rst",
            category="Symbol Interpretation",
        ),
    log:
        LOGS.format("sit/report"),
    benchmark:
        BENCHMARKS.format("sit/report")
    conda:
        "../../envs/sit.yaml"
    threads: 1
    resources:
        **res("sit_report"),
    params:
        scale=cfg("scale"),
        plot_x="subtask",
        plot_y="accuracy",
    shell:
        "harness sit report --scores {input.scores} --meta {input.meta} --scale {params.scale}"
        " --table {output.table} --accuracy {output.plot} --figure {output.figure} --log {log}"
