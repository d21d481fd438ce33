# LASS on music (thesis 5.4.2): drums + bass of an audio dataset -> audio VQ-VAE -> one GPT-2
# prior per stem and the sparse likelihood counts -> separation with each sampler (Table 5.3's
# Slakh column) and the test separation (Tables 5.4, 5.5) beside the blind and supervised
# baselines; `lass_report` turns them into the Slakh rows of Tables 5.1, 5.3-5.5.

import math

LASS_AUDIO = config["lass"]["audio"]
LASS_AUDIO_SAMPLERS = sorted(LASS_AUDIO["samplers"])
LASS_AUDIO_DATA = DP(f"audio/{LASS_AUDIO['dataset']}")
LASS_AUDIO_CHUNKS = DP("lass/audio/chunks.npz")
LASS_AUDIO_RUNTIME = "--seed {params.seed} --device {params.device} --threads {threads}"
LASS_AUDIO_SUPERVISED = {"hdemucs": "Demucs", "convtasnet": "Conv-Tasnet"}


# An audio sampler's JSON for `harness lass` (its table label left out), one shell word.
lass_audio_sampler = lambda name: smk.json_word(
    LASS_AUDIO["samplers"][name], drop=("label",)
)
# The files an audio separation reads.
LASS_AUDIO_MODELS = {
    "chunks": LASS_AUDIO_CHUNKS,
    "vqvae": MP("lass/audio/vqvae.pt"),
    "priors": [MP(f"lass/audio/prior_{stem}.pt") for stem in LASS_AUDIO["stems"]],
    "counts": MP("lass/audio/likelihood.pt"),
}


rule lass_audio_chunks:
    input:
        data=LASS_AUDIO_DATA,
        code=CODE("lass", "audio-chunks"),
    output:
        LASS_AUDIO_CHUNKS,
    log:
        LOGS.format("lass/audio_chunks"),
    benchmark:
        BENCHMARKS.format("lass/audio_chunks")
    conda:
        "../../envs/lass.yaml"
    threads: 1
    resources:
        **res("default"),
    params:
        stems=" ".join(LASS_AUDIO["stems"]),
        stems_key=dvc_param("lass.audio.stems"),
        rate=cfg("lass.audio.sample_rate"),
        seconds=cfg("lass.audio.seconds"),
        hop=math.prod(LASS_AUDIO["vqvae"]["strides"]),
        strides=dvc_param("lass.audio.vqvae"),
        valid=cfg("lass.audio.valid_mixtures"),
        test=cfg("lass.audio.test_mixtures"),
        seed=cfg("seed"),
    shell:
        "harness lass audio-chunks --dataset {input.data} --stems {params.stems}"
        " --sample-rate {params.rate} --seconds {params.seconds} --multiple {params.hop}"
        " --valid {params.valid} --test {params.test} --seed {params.seed} --out {output} --log {log}"


rule lass_audio_vqvae:
    input:
        chunks=LASS_AUDIO_CHUNKS,
        data=LASS_AUDIO_DATA,
        code=CODE("lass", "train-audio-vqvae"),
    output:
        model=MP("lass/audio/vqvae.pt"),
        plot=RP("lass/audio/vqvae.csv"),
        meta=RP("lass/audio/vqvae.json"),
    log:
        LOGS.format("lass/audio_vqvae"),
    benchmark:
        BENCHMARKS.format("lass/audio_vqvae")
    conda:
        "../../envs/lass.yaml"
    threads: config["lass"]["threads"]
    resources:
        **res("lass_train"),
    params:
        settings=cfg("lass.audio.vqvae"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("lass/audio/vqvae.ckpt"),
        plot_x="step",
        plot_y="valid_relative_mse",
    shell:
        "harness lass train-audio-vqvae --chunks {input.chunks} --dataset {input.data}"
        f" --settings {{params.settings}} {LASS_AUDIO_RUNTIME} --checkpoint {{params.checkpoint}}"
        " --out {output.model} --history {output.plot} --meta {output.meta} --log {log}"


rule lass_audio_prior:
    input:
        chunks=LASS_AUDIO_CHUNKS,
        data=LASS_AUDIO_DATA,
        vqvae=rules.lass_audio_vqvae.output.model,
        code=CODE("lass", "train-audio-prior"),
    output:
        model=MP("lass/audio/prior_{stem}.pt"),
        plot=RP("lass/audio/prior_{stem}.csv"),
        meta=RP("lass/audio/prior_{stem}.json"),
    log:
        LOGS.format("lass/audio_prior_{stem}"),
    benchmark:
        BENCHMARKS.format("lass/audio_prior_{stem}")
    wildcard_constraints:
        stem="|".join(LASS_AUDIO["stems"]),
    conda:
        "../../envs/lass.yaml"
    threads: config["lass"]["threads"]
    resources:
        **res("lass_train"),
    params:
        settings=cfg("lass.audio.prior"),
        window_hop=cfg("lass.audio.window_hop"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("lass/audio/prior_{stem}.ckpt"),
        plot_x="step",
        plot_y="valid_nll",
    shell:
        "harness lass train-audio-prior --chunks {input.chunks} --dataset {input.data}"
        " --vqvae {input.vqvae} --stem {wildcards.stem} --window-hop {params.window_hop}"
        f" --settings {{params.settings}} {LASS_AUDIO_RUNTIME} --checkpoint {{params.checkpoint}}"
        " --out {output.model} --history {output.plot} --meta {output.meta} --log {log}"


rule lass_audio_likelihood:
    input:
        chunks=LASS_AUDIO_CHUNKS,
        data=LASS_AUDIO_DATA,
        vqvae=rules.lass_audio_vqvae.output.model,
        code=CODE("lass", "audio-likelihood"),
    output:
        counts=MP("lass/audio/likelihood.pt"),
        meta=RP("lass/audio/likelihood.json"),
    log:
        LOGS.format("lass/audio_likelihood"),
    benchmark:
        BENCHMARKS.format("lass/audio_likelihood")
    conda:
        "../../envs/lass.yaml"
    threads: config["lass"]["threads"]
    resources:
        **res("lass_train"),
    params:
        settings=cfg("lass.audio.likelihood"),
        name=cfg("lass.audio.dataset"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness lass audio-likelihood --chunks {input.chunks} --dataset {input.data}"
        " --vqvae {input.vqvae} --settings {params.settings} --name {params.name}"
        f" {LASS_AUDIO_RUNTIME} --out {{output.counts}} --meta {{output.meta}} --log {{log}}"


LASS_AUDIO_SEPARATE = (
    "harness lass separate-audio --chunks {input.chunks} --vqvae {input.vqvae}"
    " --priors {input.priors} --counts {input.counts}"
    f" {LASS_AUDIO_RUNTIME}"
)


rule lass_audio_validate_sampler:
    input:
        **LASS_AUDIO_MODELS,
        code=CODE("lass", "separate-audio"),
    output:
        RP("lass/audio/samplers/{sampler}.csv"),
    log:
        LOGS.format("lass/audio_sampler_{sampler}"),
    benchmark:
        BENCHMARKS.format("lass/audio_sampler_{sampler}")
    wildcard_constraints:
        sampler="|".join(LASS_AUDIO_SAMPLERS),
    conda:
        "../../envs/lass.yaml"
    threads: config["lass"]["threads"]
    resources:
        **res("lass_separate"),
    params:
        samplers=dvc_param("lass.audio.samplers"),
        sampler=lambda wildcards: lass_audio_sampler(wildcards.sampler),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        LASS_AUDIO_SEPARATE
        + " --split valid --sampler {params.sampler} --csv {output} --log {log}"


rule lass_audio_test:
    input:
        **LASS_AUDIO_MODELS,
        code=CODE("lass", "separate-audio"),
    output:
        csv=RP("lass/audio/test.csv"),
        summary=RP("lass/audio/test.json"),
        estimates=DP("lass/audio/test_estimates.npz"),
    log:
        LOGS.format("lass/audio_test"),
    benchmark:
        BENCHMARKS.format("lass/audio_test")
    conda:
        "../../envs/lass.yaml"
    threads: config["lass"]["threads"]
    resources:
        **res("lass_separate"),
    params:
        samplers=dvc_param("lass.audio.samplers"),
        sampler=lass_audio_sampler(LASS_AUDIO["test_sampler"]),
        test_sampler=dvc_param("lass.audio.test_sampler"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        LASS_AUDIO_SEPARATE
        + " --split test --sampler {params.sampler} --csv {output.csv}"
        " --summary {output.summary} --estimates {output.estimates} --log {log}"


# The supervised rows of Table 5.5: MSDM's supervised-baseline rule on the two stems.
use rule msdm_supervised as lass_audio_supervised with:
    input:
        data=LASS_AUDIO_DATA,
        code=CODE("msdm", "train-supervised"),
    output:
        model=MP("lass/audio/supervised_{arch}.pt"),
        plot=RP("lass/audio/supervised_{arch}.csv"),
        meta=RP("lass/audio/supervised_{arch}.json"),
    log:
        LOGS.format("lass/audio_supervised_{arch}"),
    benchmark:
        BENCHMARKS.format("lass/audio_supervised_{arch}")
    params:
        settings=cfg("lass.audio.supervised"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("lass/audio/supervised_{arch}.ckpt"),
        plot_x="step",
        plot_y="train_loss",


rule lass_audio_baselines:
    input:
        chunks=LASS_AUDIO_CHUNKS,
        supervised=expand(
            MP("lass/audio/supervised_{arch}.pt"), arch=sorted(LASS_AUDIO_SUPERVISED)
        ),
        code=CODE("lass", "audio-baselines"),
    output:
        RP("lass/audio/baselines.csv"),
    log:
        LOGS.format("lass/audio_baselines"),
    benchmark:
        BENCHMARKS.format("lass/audio_baselines")
    conda:
        "../../envs/lass.yaml"
    threads: config["lass"]["threads"]
    resources:
        **res("lass_separate"),
    params:
        blind=" ".join(LASS_AUDIO["blind"]),
        blind_key=dvc_param("lass.audio.blind"),
        supervised=lambda wildcards, input: " ".join(
            f"--supervised {arch}={path}"
            for arch, path in zip(sorted(LASS_AUDIO_SUPERVISED), input.supervised)
        ),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness lass audio-baselines --chunks {input.chunks} --split test --blind {params.blind}"
        f" {{params.supervised}} {LASS_AUDIO_RUNTIME} --csv {{output}} --log {{log}}"
