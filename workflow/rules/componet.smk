# CompoNet (thesis 6.5): the embedded base (VAE on log-mels, latent pools, AudioLDM2 U-Net), one
# ControlNet adapter per dataset, Table 6.8's generations (CompoNet, MSDM, Random, ground truth)
# scored by sub-FAD and by the COCOLA score of the COCOLA rules, and Tables 6.6-6.8.
COMPONET = config["componet"]
COMPONET_SETS = COMPONET["datasets"]
# thesis scale: an AudioLDM2Pipeline directory is the base (its VAE, vocoder, U-Net and prompt
# encoders); componet_vae and componet_base then take it instead of training
COMPONET_PIPELINE = COMPONET.get("pipeline")
COMPONET_METHODS = ["componet", "random", "truth", "codec"]
# MSDM answers only on the set it is trained on
componet_msdm = lambda wildcards: (
    MP("msdm/msdm.pt") if wildcards.dataset == MSDM["dataset"] else []
)
# (dataset, method) of every COCOLA score: MSDM's only on its own set
COMPONET_SCORED = [
    (d, m)
    for d in COMPONET_SETS
    for m in COMPONET_METHODS + (["msdm"] if d == MSDM["dataset"] else [])
]
COMPONET_COCOLA = [RP(f"componet/cocola/{d}_{m}.json") for d, m in COMPONET_SCORED]


wildcard_constraints:
    cmethod="componet|msdm|random|truth|codec",


rule componet_vae:
    input:
        data=(
            []
            if COMPONET_PIPELINE
            else expand(DP("audio/{dataset}"), dataset=COMPONET_SETS)
        ),
        code=CODE("componet", "train-vae"),
    output:
        model=MP("componet/vae.pt"),
        plot=RP("componet/train/vae.csv"),
        meta=RP("componet/train/vae.json"),
    log:
        LOGS.format("componet/vae"),
    benchmark:
        BENCHMARKS.format("componet/vae")
    conda:
        "../../envs/componet.yaml"
    threads: 1
    resources:
        **res("componet_train"),
    params:
        mel=cfg("componet.mel"),
        how=(
            f"--pipeline {COMPONET_PIPELINE}"
            if COMPONET_PIPELINE
            else f"--vae {smk.json_word(COMPONET['vae'])}"
        ),
        data=lambda wildcards, input: (
            f"--data {' '.join(input.data)}" if input.data else ""
        ),
        vae=dvc_param("componet.vae"),
        pipeline=dvc_param("componet.pipeline"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("componet/vae.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness componet train-vae {params.data} --mel {params.mel} {params.how}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --checkpoint {params.checkpoint} --out {output.model} --history {output.plot}"
        " --meta {output.meta} --log {log}"


rule componet_latents:
    input:
        vae=rules.componet_vae.output.model,
        data=DP("audio/{dataset}"),
        code=CODE("componet", "latents"),
    output:
        DP("componet/latents_{dataset}.pt"),
    log:
        LOGS.format("componet/latents_{dataset}"),
    benchmark:
        BENCHMARKS.format("componet/latents_{dataset}")
    wildcard_constraints:
        dataset="|".join(COMPONET_SETS),
    conda:
        "../../envs/componet.yaml"
    threads: 1
    resources:
        **res("componet_train"),
    params:
        crops=cfg("componet.pool_crops"),
        seed=cfg("seed"),
    shell:
        "harness componet latents --vae {input.vae} --data {input.data} --dataset {wildcards.dataset}"
        " --crops {params.crops} --seed {params.seed} --threads {threads} --out {output} --log {log}"


rule componet_base:
    input:
        vae=rules.componet_vae.output.model,
        latents=expand(DP("componet/latents_{dataset}.pt"), dataset=COMPONET_SETS),
        code=CODE("componet", "train-base"),
    output:
        model=MP("componet/base.pt"),
        plot=RP("componet/train/base.csv"),
        meta=RP("componet/train/base.json"),
    log:
        LOGS.format("componet/base"),
    benchmark:
        BENCHMARKS.format("componet/base")
    conda:
        "../../envs/componet.yaml"
    threads: 1
    resources:
        **res("componet_train"),
    params:
        tags=cfg("componet.tags"),
        schedule=cfg("componet.base.schedule"),
        how=(
            f"--pipeline {COMPONET_PIPELINE}"
            if COMPONET_PIPELINE
            else " ".join(
                f"--{flag} {smk.json_word(value) if isinstance(value, dict) else value}"
                for flag, value in (
                    ("text-encoder", COMPONET["text_encoder"]),
                    ("unet", COMPONET["base"]["unet"]),
                    ("settings", COMPONET["base"]["training"]),
                )
            )
        ),
        encoder=dvc_param("componet.text_encoder"),
        unet=dvc_param("componet.base.unet"),
        settings=dvc_param("componet.base.training"),
        pipeline=dvc_param("componet.pipeline"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("componet/base.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness componet train-base --vae {input.vae} --latents {input.latents} --tags {params.tags}"
        " --schedule {params.schedule} {params.how} --seed {params.seed} --device {params.device}"
        " --threads {threads} --checkpoint {params.checkpoint} --out {output.model}"
        " --history {output.plot} --meta {output.meta} --log {log}"


rule componet_train:
    input:
        base=rules.componet_base.output.model,
        latents=DP("componet/latents_{dataset}.pt"),
        code=CODE("componet", "train"),
    output:
        model=MP("componet/adapter_{dataset}.pt"),
        plot=RP("componet/train/adapter_{dataset}.csv"),
        meta=RP("componet/train/adapter_{dataset}.json"),
    log:
        LOGS.format("componet/train_{dataset}"),
    benchmark:
        BENCHMARKS.format("componet/train_{dataset}")
    wildcard_constraints:
        dataset="|".join(COMPONET_SETS),
    conda:
        "../../envs/componet.yaml"
    threads: 1
    resources:
        **res("componet_train"),
    params:
        settings=cfg("componet.adapter.training"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("componet/adapter_{dataset}.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness componet train --base {input.base} --latents {input.latents}"
        " --settings {params.settings} --seed {params.seed} --device {params.device}"
        " --threads {threads} --checkpoint {params.checkpoint} --out {output.model}"
        " --history {output.plot} --meta {output.meta} --log {log}"


rule componet_generate:
    input:
        base=rules.componet_base.output.model,
        adapter=MP("componet/adapter_{dataset}.pt"),
        data=DP("audio/{dataset}"),
        msdm=componet_msdm,
        encoder=FAD_ENCODER,
        code=CODE("componet", "generate"),
    output:
        csv=RP("componet/generation/{dataset}.csv"),
        pairs=directory(DP("componet/pairs_{dataset}")),
        tasks=directory(RP("componet/examples/componet_tasks_{dataset}")),
    log:
        LOGS.format("componet/generate_{dataset}"),
    benchmark:
        BENCHMARKS.format("componet/generate_{dataset}")
    wildcard_constraints:
        dataset="|".join(COMPONET_SETS),
    conda:
        "../../envs/componet.yaml"
    threads: 1
    resources:
        **res("componet_generate"),
    params:
        generation=cfg("componet.generation"),
        msdm=lambda wildcards, input: (
            f"--msdm {input.msdm} --msdm-schedule {smk.json_word(MSDM['generation']['schedule'])}"
            if input.msdm
            else ""
        ),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        msdm_schedule=dvc_param("msdm.generation.schedule"),
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness componet generate --base {input.base} --adapter {input.adapter} --data {input.data}"
        " --generation {params.generation} {params.msdm} {params.encoder} --backbone {params.backbone}"
        " --ckpt-dir {params.ckpt_dir} --seed {params.seed} --device {params.device}"
        " --threads {threads} --csv {output.csv} --out-dir {output.pairs} --tasks {output.tasks}"
        " --log {log}"


# The COCOLA score (eq. 7.4) of each method's (input, answer) pairs, by the COCOLA All model.
rule componet_cocola:
    input:
        model=MP("cocola/all.pt"),
        pairs=DP("componet/pairs_{dataset}"),
        code=CODE("cocola", "score"),
    output:
        csv=RP("componet/cocola/{dataset}_{cmethod}.csv"),
        summary=RP("componet/cocola/{dataset}_{cmethod}.json"),
    log:
        LOGS.format("componet/cocola_{dataset}_{cmethod}"),
    benchmark:
        BENCHMARKS.format("componet/cocola_{dataset}_{cmethod}")
    wildcard_constraints:
        dataset="|".join(COMPONET_SETS),
    conda:
        "../../envs/cocola.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        device=cfg("device"),
        # a model's answer may be silent (counted, not scored); real sub-mixes are never
        silent=lambda wildcards: (
            "skip" if wildcards.cmethod in ("componet", "msdm", "codec") else "refuse"
        ),
    shell:
        "harness cocola score --checkpoint {input.model} --conditioning {input.pairs}/conditioning"
        " --accompaniment {input.pairs}/{wildcards.cmethod} --resample --device {params.device}"
        " --silent-answers {params.silent} --threads {threads} --csv {output.csv}"
        " --summary {output.summary} --log {log}"


rule componet_report:
    input:
        generation=expand(
            RP("componet/generation/{dataset}.csv"), dataset=COMPONET_SETS
        ),
        cocola=COMPONET_COCOLA,
        tasks=RP(f"componet/examples/componet_tasks_{COMPONET_SETS[0]}"),
        code=CODE("componet", "report"),
    output:
        table_6_6=RP("componet/table_6_6.csv"),
        table_6_7=RP("componet/table_6_7.csv"),
        table_6_8=RP("componet/table_6_8.csv"),
    log:
        LOGS.format("componet/report"),
    conda:
        "../../envs/componet.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        generation=" ".join(
            f"--generation {d}={RP(f'componet/generation/{d}.csv')}"
            for d in COMPONET_SETS
        ),
        cocola=" ".join(
            f"--cocola {d}/{m}={RP(f'componet/cocola/{d}_{m}.json')}"
            for d, m in COMPONET_SCORED
        ),
        names=cfg("componet.thesis_names"),
        out_dir=lambda wildcards, output: os.path.dirname(output.table_6_8),
    shell:
        "harness componet report {params.generation} {params.cocola}"
        " --tasks {input.tasks}/index.json --names {params.names}"
        " --out-dir {params.out_dir} --log {log}"
