# GMSDI (thesis 6.4): one text-conditioned diffusion model of the mixtures of msdm.dataset ->
# the Table 6.4 grid of separators on validation songs -> the best Separator and Extractor on
# MSDM's test chunks (Table 6.5, beside MSDM's own ISDM and MSDM rows) -> single-stem prompting
# against ISDM (Figure 6.4) and total / partial generation against MSDM (Figure 6.5).
GMSDI = config["gmsdi"]
GMSDI_SEP = GMSDI["separation"]
# Table 6.4's cells: extractor or separator_<constrained stem>, at each w
GMSDI_METHODS = ["extractor"] + [f"separator_{s}" for s in MSDM["stems"]]
GMSDI_W = [f"{w:g}" for w in GMSDI_SEP["w"]]
GMSDI_GRID = expand(
    RP("gmsdi/grid/{method}_w{w}.json"), method=GMSDI_METHODS, w=GMSDI_W
)


# A grid cell's method as one shell word: {"kind", "w", "constrained" | "negative"}.
gmsdi_method = lambda wildcards: smk.json_word(
    {"kind": wildcards.method.partition("_")[0], "w": float(wildcards.w)}
    | (
        {"constrained": wildcards.method.partition("_")[2]}
        if "_" in wildcards.method
        else {"negative": GMSDI_SEP["extractor_negative"]}
    )
)


rule gmsdi_train:
    input:
        data=MSDM_DATA,
        code=CODE("gmsdi", "train"),
    output:
        model=MP("gmsdi/gmsdi.pt"),
        plot=RP("gmsdi/train/gmsdi.csv"),
        meta=RP("gmsdi/train/gmsdi.json"),
    log:
        LOGS.format("gmsdi/train"),
    benchmark:
        BENCHMARKS.format("gmsdi/train")
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1  # one thread: the same weights on every run
    resources:
        **res("gmsdi_train"),
    params:
        settings=cfg("gmsdi.training"),
        encoder=cfg("gmsdi.text_encoder"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("gmsdi/gmsdi.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness gmsdi train --data {input.data} --settings {params.settings}"
        " --text-encoder {params.encoder} --seed {params.seed} --device {params.device}"
        " --threads {threads} --checkpoint {params.checkpoint}"
        " --out {output.model} --history {output.plot} --meta {output.meta} --log {log}"


rule gmsdi_grid:
    input:
        data=MSDM_DATA,
        model=rules.gmsdi_train.output.model,
        code=CODE("gmsdi", "separate"),
    output:
        csv=RP("gmsdi/grid/{method}_w{w}.csv"),
        summary=RP("gmsdi/grid/{method}_w{w}.json"),
    log:
        LOGS.format("gmsdi/grid_{method}_w{w}"),
    benchmark:
        BENCHMARKS.format("gmsdi/grid_{method}_w{w}")
    wildcard_constraints:
        method="|".join(GMSDI_METHODS),
        w="|".join(GMSDI_W),
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("gmsdi_separate"),
    params:
        eval=cfg("gmsdi.separation.grid_eval"),
        schedule=cfg("gmsdi.separation.schedule"),
        churn=cfg("gmsdi.separation.churn"),
        negatives=cfg("gmsdi.negative_prompts"),
        method=gmsdi_method,
        grid=dvc_param("gmsdi.separation.extractor_negative"),  # in the method
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness gmsdi separate --data {input.data} --model {input.model} --split valid"
        " --eval {params.eval} --schedule {params.schedule} --churn {params.churn}"
        " --negatives {params.negatives} --method {params.method} --seed {params.seed}"
        " --device {params.device} --threads {threads}"
        " --csv {output.csv} --summary {output.summary} --log {log}"


rule gmsdi_separate:
    input:
        data=MSDM_DATA,
        model=rules.gmsdi_train.output.model,
        grid=GMSDI_GRID,
        code=CODE("gmsdi", "separate"),
    output:
        csv=RP("gmsdi/separation/{kind}.csv"),
        summary=RP("gmsdi/separation/{kind}.json"),
        examples=directory(RP("gmsdi/examples/gmsdi_{kind}")),
    log:
        LOGS.format("gmsdi/separate_{kind}"),
    benchmark:
        BENCHMARKS.format("gmsdi/separate_{kind}")
    wildcard_constraints:
        kind="separator|extractor",
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("gmsdi_separate"),
    params:
        eval=cfg("msdm.separation.eval"),  # MSDM's test chunks: its rows of Table 6.5 are comparable
        schedule=cfg("gmsdi.separation.schedule"),
        churn=cfg("gmsdi.separation.churn"),
        negatives=cfg("gmsdi.negative_prompts"),
        example_seconds=cfg("gmsdi.separation.example_seconds"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness gmsdi separate --data {input.data} --model {input.model} --split test"
        " --eval {params.eval} --schedule {params.schedule} --churn {params.churn}"
        " --negatives {params.negatives} --choose {input.grid} --kind {wildcards.kind}"
        " --seed {params.seed} --device {params.device} --threads {threads} --csv {output.csv}"
        " --summary {output.summary} --examples {output.examples}"
        " --example-seconds {params.example_seconds} --log {log}"


rule gmsdi_stems:
    input:
        data=MSDM_DATA,
        model=rules.gmsdi_train.output.model,
        isdm=[MP(f"msdm/isdm_{s}.pt") for s in MSDM["stems"]],
        encoder=FAD_ENCODER,
        code=CODE("gmsdi", "generate"),
    output:
        csv=RP("gmsdi/generation/stems.csv"),
        examples=directory(RP("gmsdi/examples/gmsdi_single_stem_prompts")),
    log:
        LOGS.format("gmsdi/generate_stems"),
    benchmark:
        BENCHMARKS.format("gmsdi/generate_stems")
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("gmsdi_generate"),
    params:
        generation=cfg("gmsdi.generation"),
        negatives=cfg("gmsdi.negative_prompts"),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness gmsdi generate --task stems --data {input.data} --model {input.model}"
        " --isdm {input.isdm} --generation {params.generation} --negatives {params.negatives}"
        " {params.encoder} --backbone {params.backbone} --ckpt-dir {params.ckpt_dir}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --csv {output.csv} --examples {output.examples} --log {log}"


rule gmsdi_mixtures:
    input:
        data=MSDM_DATA,
        model=rules.gmsdi_train.output.model,
        msdm=MP("msdm/msdm.pt"),
        encoder=FAD_ENCODER,
        code=CODE("gmsdi", "generate"),
    output:
        csv=RP("gmsdi/generation/mixtures.csv"),
        examples=directory(RP("gmsdi/examples/gmsdi_total_and_partial_generation")),
    log:
        LOGS.format("gmsdi/generate_mixtures"),
    benchmark:
        BENCHMARKS.format("gmsdi/generate_mixtures")
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("gmsdi_generate"),
    params:
        generation=cfg("gmsdi.generation"),
        negatives=cfg("gmsdi.negative_prompts"),
        msdm_generation=cfg("msdm.generation"),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness gmsdi generate --task mixtures --data {input.data} --model {input.model}"
        " --msdm {input.msdm} --msdm-generation {params.msdm_generation}"
        " --generation {params.generation} --negatives {params.negatives}"
        " {params.encoder} --backbone {params.backbone} --ckpt-dir {params.ckpt_dir}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --csv {output.csv} --examples {output.examples} --log {log}"


rule gmsdi_report:
    input:
        grid=GMSDI_GRID,
        separator=RP("gmsdi/separation/separator.json"),
        extractor=RP("gmsdi/separation/extractor.json"),
        isdm=RP("msdm/separation/isdm_dirac_correction.json"),
        msdm=RP("msdm/separation/msdm_dirac_correction.json"),
        average=rules.msdm_average.output.summary,
        stems=rules.gmsdi_stems.output.csv,
        mixtures=rules.gmsdi_mixtures.output.csv,
        baselines=rules.msdm_fad_baselines.output,
        code=CODE("gmsdi", "report"),
    output:
        table_6_4=RP("gmsdi/table_6_4.csv"),
        table_6_5=RP("gmsdi/table_6_5.csv"),
        figure_6_4=report(
            RP("figures/figure_6_4.png"),
            caption="../report/gmsdi_figure_6_4.rst",
            category="GMSDI",
        ),
        figure_6_5=report(
            RP("figures/figure_6_5.png"),
            caption="../report/gmsdi_figure_6_5.rst",
            category="GMSDI",
        ),
    log:
        LOGS.format("gmsdi/report"),
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.table_6_4),
    shell:
        "harness gmsdi report --grid {input.grid} --separator {input.separator}"
        " --extractor {input.extractor} --msdm ISDM={input.isdm} --msdm MSDM={input.msdm}"
        " --msdm 'Average (y / N)'={input.average} --stems {input.stems}"
        " --mixtures {input.mixtures} --baselines {input.baselines} --out-dir {params.out_dir}"
        " --figure-6-4 {output.figure_6_4} --figure-6-5 {output.figure_6_5} --log {log}"


# The thesis's unsupervised model (MTG-Jamendo conditioned on CLAP embeddings of its own mixtures):
# gmsdi.unsupervised's dataset conditioned on gmsdi.unsupervised's audio encoder.
GMSDI_SELF = GMSDI["unsupervised"]
GMSDI_SELF_DATA = DP(f"audio/{GMSDI_SELF['dataset']}")
# the DAG's trained FAD encoder: the model's audio encoder (embedded) and the FAD metric's
GMSDI_SELF_TRAINED = GMSDI_SELF["backbone"] == "trained"
GMSDI_SELF_ENCODER = rules.audio_fad_encoder.output.model if GMSDI_SELF_TRAINED else []


rule gmsdi_self_train:
    input:
        data=GMSDI_SELF_DATA,
        encoder=GMSDI_SELF_ENCODER,
        code=CODE("gmsdi", "train"),
    output:
        model=MP("gmsdi/self_conditioned.pt"),
        plot=RP("gmsdi/train/self_conditioned.csv"),
        meta=RP("gmsdi/train/self_conditioned.json"),
    log:
        LOGS.format("gmsdi/train_self_conditioned"),
    benchmark:
        BENCHMARKS.format("gmsdi/train_self_conditioned")
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("gmsdi_train"),
    params:
        settings=cfg("gmsdi.unsupervised.training"),
        backbone=cfg("gmsdi.unsupervised.backbone"),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("gmsdi/self_conditioned.ckpt"),
        plot_x="step",
        plot_y="train_loss",
    shell:
        "harness gmsdi train --data {input.data} --settings {params.settings}"
        " --audio-backbone {params.backbone} {params.encoder} --ckpt-dir {params.ckpt_dir}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --checkpoint {params.checkpoint} --out {output.model} --history {output.plot}"
        " --meta {output.meta} --log {log}"


rule gmsdi_self_generate:
    input:
        data=GMSDI_SELF_DATA,
        model=rules.gmsdi_self_train.output.model,
        encoder=(
            rules.audio_fad_encoder.output.model
            if GMSDI_SELF_TRAINED or FAD_TRAINED
            else []
        ),
        code=CODE("gmsdi", "generate"),
    output:
        csv=RP("gmsdi/generation/self_conditioned.csv"),
        examples=directory(RP("gmsdi/examples/gmsdi_self_conditioned")),
    log:
        LOGS.format("gmsdi/generate_self_conditioned"),
    benchmark:
        BENCHMARKS.format("gmsdi/generate_self_conditioned")
    conda:
        "../../envs/gmsdi.yaml"
    threads: 1
    resources:
        **res("gmsdi_generate"),
    params:
        generation=cfg("gmsdi.unsupervised.generation"),
        condition=cfg("gmsdi.unsupervised.backbone"),
        encoder=lambda wildcards, input: (
            f"--encoder {input.encoder}" if input.encoder else ""
        ),
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness gmsdi generate --task self --data {input.data} --model {input.model}"
        " --generation {params.generation} {params.encoder} --backbone {params.backbone}"
        " --condition-backbone {params.condition} --ckpt-dir {params.ckpt_dir}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --csv {output.csv} --examples {output.examples} --log {log}"
