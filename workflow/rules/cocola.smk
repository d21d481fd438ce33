# COCOLA (thesis ch. 7): a split file per dataset (tracks and evaluation pairs, shipped with the
# results), an encoder per training set and one on all of them (with each similarity), the
# accuracy of eq. 7.5 of every model and baseline on every test set, Table 7.1 and Figure 7.3.
COCOLA = config["cocola"]
COCOLA_SETS = COCOLA["datasets"] + COCOLA["held_out"]
COCOLA_MODELS = (
    COCOLA["datasets"] + ["all"] + [f"all_{s}" for s in COCOLA["similarities"][1:]]
)
COCOLA_BASELINES = ["untrained", "chroma"]
# the datasets a model trains on: its own, or all of them
cocola_sets = lambda model: COCOLA["datasets"] if model.startswith("all") else [model]
# --cache DIR at thesis scale: tracks resampled once and mapped from disk
cocola_cache = f"--cache {COCOLA['cache']}" if COCOLA["cache"] else ""
# the model settings of a job: all_<similarity> overrides the config's similarity
cocola_similarity = lambda model: (
    model[4:] if model.startswith("all_") else COCOLA["similarities"][0]
)


rule cocola_split:
    input:
        data=DP("audio/{dataset}"),
        code=CODE("cocola", "split"),
    output:
        RP("cocola/splits/{dataset}.json"),
    log:
        LOGS.format("cocola/split_{dataset}"),
    wildcard_constraints:
        dataset="|".join(COCOLA_SETS),
    conda:
        "../../envs/cocola.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        features=cfg("cocola.features"),
        training=cfg("cocola.training"),
        evaluation=cfg("cocola.evaluation"),
        seed=cfg("seed"),
    shell:
        "harness cocola split --data {input.data} --features {params.features}"
        " --training {params.training} --evaluation {params.evaluation} --seed {params.seed}"
        " --out {output} --log {log}"


rule cocola_train:
    input:
        data=lambda wildcards: [DP(f"audio/{d}") for d in cocola_sets(wildcards.model)],
        splits=lambda wildcards: [
            RP(f"cocola/splits/{d}.json") for d in cocola_sets(wildcards.model)
        ],
        code=CODE("cocola", "train"),
    output:
        model=MP("cocola/{model}.pt"),
        plot=RP("cocola/train/{model}.csv"),
        meta=RP("cocola/train/{model}.json"),
    log:
        LOGS.format("cocola/train_{model}"),
    benchmark:
        BENCHMARKS.format("cocola/train_{model}")
    wildcard_constraints:
        model="|".join(COCOLA_MODELS),
    conda:
        "../../envs/cocola.yaml"
    threads: 1  # one thread: the same weights on every run; a GPU job uses its device
    resources:
        **res("cocola_train"),
    params:
        features=cfg("cocola.features"),
        model_settings=dvc_param("cocola.model"),  # the job's --model (below)
        similarities=dvc_param("cocola.similarities"),
        model=lambda wildcards: smk.json_word(
            {**COCOLA["model"], "similarity": cocola_similarity(wildcards.model)}
        ),
        settings=cfg("cocola.training"),
        all_tracks=dvc_param("cocola.all_tracks"),
        filters=lambda wildcards: (
            f"--filters {smk.json_word(COCOLA['all_tracks'])}"
            if wildcards.model.startswith("all") and COCOLA["all_tracks"]
            else ""
        ),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("cocola/{model}.ckpt"),
        cache=cocola_cache,
        plot_x="step",
        plot_y="valid_accuracy",
    shell:
        "harness cocola train --name {wildcards.model} --data {input.data} --split {input.splits}"
        " --features {params.features} --model {params.model} --settings {params.settings}"
        " {params.filters} {params.cache} --seed {params.seed} --device {params.device} --threads {threads}"
        " --checkpoint {params.checkpoint} --out {output.model} --history {output.plot}"
        " --meta {output.meta} --log {log}"


rule cocola_evaluate:
    input:
        data=[DP(f"audio/{d}") for d in COCOLA_SETS],
        splits=[RP(f"cocola/splits/{d}.json") for d in COCOLA_SETS],
        model=MP("cocola/{model}.pt"),
        code=CODE("cocola", "evaluate"),
    output:
        RP("cocola/accuracy/{model}.csv"),
    log:
        LOGS.format("cocola/evaluate_{model}"),
    wildcard_constraints:
        model="|".join(COCOLA_MODELS),
    conda:
        "../../envs/cocola.yaml"
    threads: 1
    resources:
        **res("cocola_evaluate"),
    params:
        evaluation=cfg("cocola.evaluation"),
        seed=cfg("seed"),
        device=cfg("device"),
        cache=cocola_cache,
    shell:
        "harness cocola evaluate --checkpoint {input.model} --data {input.data} --split {input.splits} {params.cache}"
        " --evaluation {params.evaluation} --seed {params.seed} --device {params.device}"
        " --threads {threads} --csv {output} --log {log}"


rule cocola_baseline:
    input:
        data=[DP(f"audio/{d}") for d in COCOLA_SETS],
        splits=[RP(f"cocola/splits/{d}.json") for d in COCOLA_SETS],
        code=CODE("cocola", "evaluate"),
    output:
        RP("cocola/accuracy/{baseline}.csv"),
    log:
        LOGS.format("cocola/evaluate_{baseline}"),
    wildcard_constraints:
        baseline="|".join(COCOLA_BASELINES),
    conda:
        "../../envs/cocola.yaml"
    threads: 1
    resources:
        **res("cocola_evaluate"),
    params:
        features=cfg("cocola.features"),
        model=cfg("cocola.model"),
        evaluation=cfg("cocola.evaluation"),
        seed=cfg("seed"),
        device=cfg("device"),
        cache=cocola_cache,
    shell:
        "harness cocola evaluate --baseline {wildcards.baseline} --features {params.features}"
        " --model {params.model} --data {input.data} --split {input.splits} {params.cache}"
        " --evaluation {params.evaluation} --seed {params.seed} --device {params.device}"
        " --threads {threads} --csv {output} --log {log}"


rule cocola_report:
    input:
        accuracy=expand(
            RP("cocola/accuracy/{model}.csv"), model=COCOLA_MODELS + COCOLA_BASELINES
        ),
        histories=expand(
            RP("cocola/train/{model}.csv"),
            model=[m for m in COCOLA_MODELS if m.startswith("all")],
        ),
        code=CODE("cocola", "report"),
    output:
        table_7_1=RP("cocola/table_7_1.csv"),
        accuracy=RP("cocola/accuracy.csv"),
        accuracy_md=RP("cocola/accuracy.md"),
        figure=report(
            RP("figures/figure_7_3.png"),
            caption="../report/cocola_figure_7_3.rst",
            category="COCOLA",
        ),
    log:
        LOGS.format("cocola/report"),
    conda:
        "../../envs/cocola.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        accuracy=" ".join(
            f"--accuracy {m}={RP(f'cocola/accuracy/{m}.csv')}"
            for m in COCOLA_MODELS + COCOLA_BASELINES
        ),
        history=" ".join(
            f"--history {cocola_similarity(m)}={RP(f'cocola/train/{m}.csv')}"
            for m in COCOLA_MODELS
            if m.startswith("all")
        ),
        names=cfg("cocola.thesis_names"),
        held_out=cfg("cocola.held_out"),
        out_dir=lambda wildcards, output: os.path.dirname(output.table_7_1),
    shell:
        "harness cocola report {params.accuracy} {params.history} --names {params.names}"
        " --held-out {params.held_out} --out-dir {params.out_dir} --figure {output.figure} --log {log}"
