# Audio data layer (chapters 5-7): embedded datasets, thesis-scale downloads, the FAD encoder
# and the report on the datasets (results/audio/).
AUDIO = config["audio"]
EMBEDDED_AUDIO = ["synthpop", "chorales", "polyphony"]
DOWNLOADED_AUDIO = sorted(AUDIO["datasets"])
FAD_TRAINED = AUDIO["fad"]["encoder"] == "trained"


rule audio_embedded:
    input:
        code=CODE("audio", "embedded"),
    output:
        directory(DP("audio/{dataset}")),
    log:
        LOGS.format("audio/embedded_{dataset}"),
    benchmark:
        BENCHMARKS.format("audio/embedded_{dataset}")
    wildcard_constraints:
        dataset="|".join(EMBEDDED_AUDIO),
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        **res("audio_embedded"),
    params:
        settings=wcfg("audio.{dataset}"),
        sample_rate=cfg("audio.sample_rate"),
        soundfont=cfg("audio.soundfont"),
        seed=cfg("seed"),
    shell:
        "harness audio embedded --dataset {wildcards.dataset} --settings {params.settings}"
        " --sample-rate {params.sample_rate} --soundfont '{params.soundfont}' --seed {params.seed}"
        " --out {output} --log {log}"


rule audio_download:
    input:
        code=CODE("audio", "download"),
    output:
        directory(DP("audio/{dataset}")),
    log:
        LOGS.format("audio/download_{dataset}"),
    benchmark:
        BENCHMARKS.format("audio/download_{dataset}")
    wildcard_constraints:
        dataset="|".join(DOWNLOADED_AUDIO) or "^$",
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        **res("audio_download"),
    params:
        spec=wcfg("audio.datasets.{dataset}"),
        downloads=DOWNLOADS,
    shell:
        "harness audio download --dataset {wildcards.dataset} --spec {params.spec}"
        " --downloads {params.downloads} --out {output} --log {log}"


rule audio_fad_encoder:
    input:
        dataset=DP(f"audio/{AUDIO['fad']['dataset']}"),
        code=CODE("audio", "fad-encoder"),
    output:
        model=MP("audio/fad_encoder.pt"),
        plot=RP("audio/fad_encoder.csv"),
        meta=RP("audio/fad_encoder.json"),
    log:
        LOGS.format("audio/fad_encoder"),
    benchmark:
        BENCHMARKS.format("audio/fad_encoder")
    conda:
        "../../envs/audio.yaml"
    threads: 1  # one thread: the same weights on every run
    resources:
        **res("audio_fad_encoder"),
    params:
        settings=cfg("audio.fad.training"),
        dataset=dvc_param("audio.fad.dataset"),
        seed=cfg("seed"),
        checkpoint=CP("audio/fad_encoder.ckpt"),
        plot_x="step",
        plot_y="valid_accuracy",
    shell:
        "harness audio fad-encoder --dataset {input.dataset} --settings {params.settings} --seed {params.seed}"
        " --threads {threads} --checkpoint {params.checkpoint}"
        " --out {output.model} --history {output.plot} --meta {output.meta} --log {log}"


rule audio_report:
    input:
        datasets=expand(DP("audio/{dataset}"), dataset=AUDIO["report"]),
        encoder=rules.audio_fad_encoder.output.model if FAD_TRAINED else [],
        code=CODE("audio", "report"),
    output:
        datasets=RP("audio/datasets.csv"),
        baselines=RP("audio/baselines.csv"),
        fad=RP("audio/fad.csv"),
        figure=report(
            RP("audio/datasets.png"),
            caption="../report/audio_datasets.rst",
            category="Audio data",
        ),
    log:
        LOGS.format("audio/report"),
    benchmark:
        BENCHMARKS.format("audio/report")
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        **res("audio_report"),
    params:
        backbone=cfg("audio.fad.encoder"),
        ckpt_dir=cfg("audio.fad.ckpt_dir"),
    shell:
        "harness audio report --datasets {input.datasets} --encoder '{input.encoder}'"
        " --backbone {params.backbone} --ckpt-dir {params.ckpt_dir}"
        " --datasets-csv {output.datasets} --baselines {output.baselines} --fad {output.fad}"
        " --figure {output.figure} --threads {threads} --log {log}"
