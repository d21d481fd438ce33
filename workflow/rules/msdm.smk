# MSDM / ISDM (thesis 6.3): the diffusion models of the stems (MSDM), of each stem alone (ISDM)
# and of mixtures; the supervised HDemucs / ConvTasNet baselines; separation with each likelihood
# (Table 6.2), total generation (Table 6.1), partial generation (Table 6.3) and a listening page.
MSDM = config["msdm"]
MSDM_DATA = DP(f"audio/{MSDM['dataset']}")
MSDM_MODELS = ["msdm", "mixture"] + [f"isdm_{s}" for s in MSDM["stems"]]
MSDM_IMPORTED = sorted(MSDM["checkpoint"])
MSDM_TRAINED = [m for m in MSDM_MODELS if m not in MSDM_IMPORTED]
MSDM_SEP = MSDM["separation"]
MSDM_VARIANTS = sorted(MSDM_SEP["variants"])
FAD_ENCODER = rules.audio_fad_encoder.output.model if FAD_TRAINED else []
# The model files a separator reads: one MSDM file, or one ISDM file per stem.
msdm_separator = lambda model: (
    [MP("msdm/msdm.pt")]
    if model == "msdm"
    else [MP(f"msdm/isdm_{s}.pt") for s in MSDM["stems"]]
)
# Table 6.2's row of a separator: "Dirac / MSDM (correction)".
msdm_row = lambda model, variant: (
    f"{MSDM_SEP['variants'][variant]['label']} / {model.upper()}"
    + (" (correction)" if MSDM_SEP["variants"][variant]["corrections"] else "")
)
# A report option naming a table row and the file with its values: --separation 'ROW=FILE'.
msdm_flag = lambda name, row, path: f"--{name} {shlex.quote(f'{row}={path}')}"
MSDM_SUPERVISED_ROWS = {
    "hdemucs": "Demucs",
    "convtasnet": "Conv-TasNet (ours, same data)",
}


rule msdm_train:
    input:
        data=MSDM_DATA,
        code=CODE("msdm", "train"),
    output:
        model=MP("msdm/{model}.pt"),
        plot=RP("msdm/train/{model}.csv"),
        meta=RP("msdm/train/{model}.json"),
    log:
        LOGS.format("msdm/train_{model}"),
    benchmark:
        BENCHMARKS.format("msdm/train_{model}")
    wildcard_constraints:
        model="|".join(MSDM_TRAINED) or "^$",
    conda:
        "../../envs/msdm.yaml"
    threads: 1  # one thread: the same weights on every run; a GPU job uses its device
    resources:
        **res("msdm_train"),
    params:
        settings=cfg("msdm.diffusion"),
        isdm=dvc_param("msdm.isdm"),  # an ISDM job's --isdm (below)
        kind=lambda wildcards: wildcards.model.split("_")[0],
        stem=lambda wildcards: (
            f"--stem {wildcards.model[5:]} --isdm {smk.json_word(MSDM['isdm'])}"
            if wildcards.model.startswith("isdm_")
            else ""
        ),
        seed=cfg("seed"),
        device=cfg("device"),
        # one data-parallel process per GPU of the job (resources.msdm_train.gpu)
        processes=max(1, res("msdm_train").get("gpu", 0)),
        checkpoint=CP("msdm/{model}.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness msdm train --kind {params.kind} {params.stem} --data {input.data}"
        " --settings {params.settings} --seed {params.seed} --device {params.device} --threads {threads}"
        " --processes {params.processes} --checkpoint {params.checkpoint} --out {output.model}"
        " --history {output.plot} --meta {output.meta} --log {log}"


rule msdm_import:
    input:
        weights=lambda wildcards: MSDM["checkpoint"][wildcards.model],
        code=CODE("msdm", "import"),
    output:
        MP("msdm/{model}.pt"),
    log:
        LOGS.format("msdm/import_{model}"),
    wildcard_constraints:
        model="|".join(MSDM_IMPORTED) or "^$",
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        kind=lambda wildcards: wildcards.model.split("_")[0],
    shell:
        "harness msdm import --weights {input.weights} --kind {params.kind} --out {output} --log {log}"


rule msdm_supervised:
    input:
        data=MSDM_DATA,
        code=CODE("msdm", "train-supervised"),
    output:
        model=MP("msdm/supervised_{arch}.pt"),
        plot=RP("msdm/train/supervised_{arch}.csv"),
        meta=RP("msdm/train/supervised_{arch}.json"),
    log:
        LOGS.format("msdm/supervised_{arch}"),
    benchmark:
        BENCHMARKS.format("msdm/supervised_{arch}")
    wildcard_constraints:
        arch="hdemucs|convtasnet",
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("msdm_train"),
    params:
        settings=cfg("msdm.supervised"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("msdm/supervised_{arch}.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness msdm train-supervised --arch {wildcards.arch} --data {input.data}"
        " --settings {params.settings} --seed {params.seed} --device {params.device} --threads {threads}"
        " --checkpoint {params.checkpoint} --out {output.model} --history {output.plot}"
        " --meta {output.meta} --log {log}"


rule msdm_separate:
    input:
        data=MSDM_DATA,
        models=lambda wildcards: msdm_separator(wildcards.model),
        code=CODE("msdm", "separate"),
    output:
        csv=RP("msdm/separation/{model}_{variant}.csv"),
        summary=RP("msdm/separation/{model}_{variant}.json"),
        examples=directory(RP("msdm/examples/separation_{model}_{variant}")),
    log:
        LOGS.format("msdm/separate_{model}_{variant}"),
    benchmark:
        BENCHMARKS.format("msdm/separate_{model}_{variant}")
    wildcard_constraints:
        model="msdm|isdm",
        variant="|".join(MSDM_VARIANTS),
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("msdm_separate"),
    params:
        eval=cfg("msdm.separation.eval"),
        schedule=cfg("msdm.separation.schedule"),
        variant=wcfg("msdm.separation.variants.{variant}"),
        example_seconds=cfg("msdm.separation.example_seconds"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness msdm separate --data {input.data} --models {input.models} --eval {params.eval}"
        " --schedule {params.schedule} --variant {params.variant} --seed {params.seed}"
        " --device {params.device} --threads {threads} --csv {output.csv} --summary {output.summary}"
        " --examples {output.examples} --example-seconds {params.example_seconds} --log {log}"


rule msdm_separate_supervised:
    input:
        data=MSDM_DATA,
        model=rules.msdm_supervised.output.model,
        code=CODE("msdm", "separate"),
    output:
        csv=RP("msdm/separation/supervised_{arch}.csv"),
        summary=RP("msdm/separation/supervised_{arch}.json"),
        examples=directory(RP("msdm/examples/separation_supervised_{arch}")),
    log:
        LOGS.format("msdm/separate_supervised_{arch}"),
    wildcard_constraints:
        arch="hdemucs|convtasnet",
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("msdm_separate"),
    params:
        eval=cfg("msdm.separation.eval"),
        example_seconds=cfg("msdm.separation.example_seconds"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness msdm separate --data {input.data} --supervised {input.model} --eval {params.eval}"
        " --seed {params.seed} --device {params.device} --threads {threads} --csv {output.csv}"
        " --summary {output.summary} --examples {output.examples}"
        " --example-seconds {params.example_seconds} --log {log}"


rule msdm_average:
    input:
        data=MSDM_DATA,
        code=CODE("msdm", "separate"),
    output:
        csv=RP("msdm/separation/average.csv"),
        summary=RP("msdm/separation/average.json"),
    log:
        LOGS.format("msdm/separate_average"),
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        eval=cfg("msdm.separation.eval"),
        rate=cfg("msdm.diffusion.sample_rate"),
        seed=cfg("seed"),
    shell:
        "harness msdm separate --data {input.data} --average {params.rate} --eval {params.eval}"
        " --seed {params.seed} --device cpu --threads {threads} --csv {output.csv}"
        " --summary {output.summary} --log {log}"


rule msdm_generate:
    input:
        data=MSDM_DATA,
        model=lambda wildcards: MP(
            f"msdm/{'msdm' if wildcards.task == 'partial' else wildcards.model}.pt"
        ),
        encoder=FAD_ENCODER,
        code=CODE("msdm", "generate"),
    output:
        csv=RP("msdm/generation/{task}_{model}.csv"),
        examples=directory(RP("msdm/examples/{task}_{model}")),
    log:
        LOGS.format("msdm/generate_{task}_{model}"),
    benchmark:
        BENCHMARKS.format("msdm/generate_{task}_{model}")
    wildcard_constraints:
        task="total|partial",
        model="msdm|mixture",
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("msdm_generate"),
    params:
        generation=cfg("msdm.generation"),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness msdm generate --task {wildcards.task} --data {input.data} --model {input.model}"
        " {params.encoder} --backbone {params.backbone} --ckpt-dir {params.ckpt_dir}"
        " --generation {params.generation} --seed {params.seed} --device {params.device}"
        " --threads {threads} --csv {output.csv} --examples {output.examples} --log {log}"


rule msdm_fad_baselines:
    input:
        data=MSDM_DATA,
        encoder=FAD_ENCODER,
        code=CODE("msdm", "fad-baselines"),
    output:
        RP("msdm/generation/baselines.csv"),
    log:
        LOGS.format("msdm/fad_baselines"),
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("msdm_generate"),
    params:
        generation=cfg("msdm.generation"),
        rate=cfg("msdm.diffusion.sample_rate"),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
    shell:
        "harness msdm fad-baselines --data {input.data} {params.encoder} --backbone {params.backbone}"
        " --ckpt-dir {params.ckpt_dir} --generation {params.generation} --sample-rate {params.rate}"
        " --seed {params.seed} --threads {threads} --csv {output} --log {log}"


rule msdm_report:
    input:
        separation=expand(
            RP("msdm/separation/{model}_{variant}.json"),
            model=MSDM_SEP["models"],
            variant=MSDM_VARIANTS,
        ),
        supervised=expand(
            RP("msdm/separation/supervised_{arch}.json"), arch=MSDM_SEP["supervised"]
        ),
        average=rules.msdm_average.output.summary,
        total=expand(RP("msdm/generation/total_{model}.csv"), model=["msdm", "mixture"]),
        partial=RP("msdm/generation/partial_msdm.csv"),
        baselines=rules.msdm_fad_baselines.output,
        code=CODE("msdm", "report"),
    output:
        table_6_1=RP("msdm/table_6_1.csv"),
        table_6_2=RP("msdm/table_6_2.csv"),
        table_6_3=RP("msdm/table_6_3.csv"),
    log:
        LOGS.format("msdm/report"),
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        separation=" ".join(
            [
                msdm_flag(
                    "separation", msdm_row(m, v), RP(f"msdm/separation/{m}_{v}.json")
                )
                for m in MSDM_SEP["models"]
                for v in MSDM_VARIANTS
            ]
            + [
                msdm_flag(
                    "separation",
                    MSDM_SUPERVISED_ROWS[a],
                    RP(f"msdm/separation/supervised_{a}.json"),
                )
                for a in MSDM_SEP["supervised"]
            ]
            + [
                msdm_flag(
                    "separation", "Average (y / N)", RP("msdm/separation/average.json")
                )
            ]
        ),
        total=" ".join(
            msdm_flag("total", row, RP(f"msdm/generation/total_{m}.csv"))
            for m, row in (("msdm", "MSDM"), ("mixture", "Mixture Model"))
        ),
        out_dir=lambda wildcards, output: os.path.dirname(output.table_6_1),
    shell:
        "harness msdm report {params.separation} {params.total} --partial {input.partial}"
        " --baselines {input.baselines} --out-dir {params.out_dir} --log {log}"


# The listening page: MSDM's examples and GMSDI's (thesis 6.4, the same tasks from a mixture model).
rule msdm_listen:
    input:
        examples=[
            RP("msdm/examples/total_msdm"),
            RP("msdm/examples/total_mixture"),
            RP("msdm/examples/partial_msdm"),
        ]
        + expand(
            RP("msdm/examples/separation_{model}_{variant}"),
            model=MSDM_SEP["models"],
            variant=MSDM_VARIANTS,
        )
        + expand(
            RP("msdm/examples/separation_supervised_{arch}"),
            arch=MSDM_SEP["supervised"],
        )
        + [
            RP(f"gmsdi/examples/gmsdi_{name}")
            for name in (
                "separator",
                "extractor",
                "single_stem_prompts",
                "total_and_partial_generation",
                "self_conditioned",
            )
        ]
        + [
            RP(f"componet/examples/componet_tasks_{d}")
            for d in config["componet"]["datasets"]
        ],
        code=CODE("msdm", "listen"),
    output:
        report(
            RP("msdm/listen.html"),
            caption="../report/msdm_listen.rst",
            category="MSDM",
        ),
    log:
        LOGS.format("msdm/listen"),
    conda:
        "../../envs/msdm.yaml"
    threads: 1
    resources:
        **res("default"),
    shell:
        "harness msdm listen --examples {input.examples} --out {output} --log {log}"
