# LASS on images (thesis ch. 5): per dataset (MNIST; CelebA 32x32 at thesis scale) the images ->
# VQ-VAE -> GPT-2 prior and sparse likelihood counts; on MNIST the separation with each sampler
# (Table 5.3), the test separation and baselines (Table 5.2) and the timing (Table 5.4); on
# CelebA the separation scored by FID (Table 5.2); then Tables 5.1-5.4 and Figure 5.3.

LASS = config["lass"]
LASS_SAMPLERS = sorted(LASS["samplers"])


# A sampler's JSON for `harness lass` (its table label left out), one shell word.
lass_sampler = lambda name: smk.json_word(LASS["samplers"][name], drop=("label",))
# The test run's sampler (Tables 5.2 and 5.4): lass.test.sampler, with lass.test.candidates
# where given.
LASS_TEST_SPEC = {
    **LASS["samplers"][LASS["test"]["sampler"]],
    **{k: v for k, v in LASS["test"].items() if k == "candidates"},
}
LASS_TEST_SAMPLER = smk.json_word(LASS_TEST_SPEC, drop=("label",))
# A per-dataset LASS setting (lass.<dataset>.<key>) as a param of a {dataset} rule.
lass_cfg = lambda key: wcfg(f"lass.{{dataset}}.{key}")
# The files a LASS separation reads for one dataset.
lass_models = lambda dataset: {
    "data": DP(f"lass/{dataset}.npz"),
    "vqvae": MP(f"lass/{dataset}/vqvae.pt"),
    "prior": MP(f"lass/{dataset}/prior.pt"),
    "counts": MP(f"lass/{dataset}/likelihood.pt"),
}


wildcard_constraints:
    dataset="|".join(LASS["datasets"]),


rule lass_data:
    input:
        code=CODE("lass", "data"),
    output:
        DP("lass/{dataset}.npz"),
    log:
        LOGS.format("lass/data_{dataset}"),
    benchmark:
        BENCHMARKS.format("lass/data_{dataset}")
    conda:
        "../../envs/lass.yaml"
    threads: 1
    resources:
        **res("lass_data"),
    params:
        spec=lass_cfg("data"),
        downloads=f"{DOWNLOADS}/{{dataset}}",
    shell:
        "harness lass data --dataset {wildcards.dataset} --spec {params.spec}"
        " --downloads {params.downloads} --out {output} --log {log}"


rule lass_vqvae:
    input:
        data=rules.lass_data.output[0],
        code=CODE("lass", "train-vqvae"),
    output:
        model=MP("lass/{dataset}/vqvae.pt"),
        plot=RP("lass/{dataset}/vqvae.csv"),
        meta=RP("lass/{dataset}/vqvae.json"),
    log:
        LOGS.format("lass/vqvae_{dataset}"),
    benchmark:
        BENCHMARKS.format("lass/vqvae_{dataset}")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["train_threads"]
    resources:
        **res("lass_train"),
    params:
        settings=lass_cfg("vqvae"),
        valid=cfg("lass.valid_images"),
        seed=cfg("seed"),
        threads=cfg("lass.train_threads"),
        device=cfg("device"),
        checkpoint=CP("lass/{dataset}_vqvae.ckpt"),
        plot_x="step",
        plot_y="valid_mse",
    shell:
        "harness lass train-vqvae --data {input.data} --settings {params.settings} --valid {params.valid}"
        " --seed {params.seed} --device {params.device} --threads {params.threads}"
        " --checkpoint {params.checkpoint} --out {output.model}"
        " --history {output.plot} --meta {output.meta} --log {log}"


rule lass_prior:
    input:
        data=rules.lass_data.output[0],
        vqvae=rules.lass_vqvae.output.model,
        code=CODE("lass", "train-prior"),
    output:
        model=MP("lass/{dataset}/prior.pt"),
        plot=RP("lass/{dataset}/prior.csv"),
        meta=RP("lass/{dataset}/prior.json"),
    log:
        LOGS.format("lass/prior_{dataset}"),
    benchmark:
        BENCHMARKS.format("lass/prior_{dataset}")
    # the prior and the counts go first after the VQ-VAE; the baselines, which only the report
    # reads, run beside the test separation
    priority: 2
    conda:
        "../../envs/lass.yaml"
    threads: LASS["train_threads"]
    resources:
        **res("lass_train"),
    params:
        settings=lass_cfg("prior"),
        valid=cfg("lass.valid_images"),
        seed=cfg("seed"),
        threads=cfg("lass.train_threads"),
        device=cfg("device"),
        checkpoint=CP("lass/{dataset}_prior.ckpt"),
        plot_x="step",
        plot_y="valid_nll",
    shell:
        "harness lass train-prior --data {input.data} --vqvae {input.vqvae} --settings {params.settings}"
        " --valid {params.valid} --seed {params.seed} --device {params.device} --threads {params.threads}"
        " --checkpoint {params.checkpoint} --out {output.model}"
        " --history {output.plot} --meta {output.meta} --log {log}"


rule lass_likelihood:
    input:
        data=rules.lass_data.output[0],
        vqvae=rules.lass_vqvae.output.model,
        code=CODE("lass", "likelihood"),
    output:
        counts=MP("lass/{dataset}/likelihood.pt"),
        meta=RP("lass/{dataset}/likelihood.json"),
    log:
        LOGS.format("lass/likelihood_{dataset}"),
    benchmark:
        BENCHMARKS.format("lass/likelihood_{dataset}")
    priority: 2
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_train"),
    params:
        settings=lass_cfg("likelihood"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness lass likelihood --dataset {wildcards.dataset} --data {input.data} --vqvae {input.vqvae}"
        " --settings {params.settings} --seed {params.seed} --device {params.device}"
        " --threads {threads} --out {output.counts} --meta {output.meta} --log {log}"


LASS_MODELS = lass_models("mnist")
LASS_MODEL_ARGS = (
    "--data {input.data} --vqvae {input.vqvae} --prior {input.prior} --counts {input.counts}"
    " --seed {params.seed} --device {params.device} --threads {threads}"
)


# Table 5.3: one validation run per sampler; the ceiling (refining the sources' own codes) depends
# on the mixtures only, so these runs leave it out (the test mixtures' is lass_baselines').
rule lass_validate_sampler:
    input:
        **LASS_MODELS,
        code=CODE("lass", "separate"),
    output:
        RP("lass/samplers/{sampler}.csv"),
    log:
        LOGS.format("lass/sampler_{sampler}"),
    benchmark:
        BENCHMARKS.format("lass/sampler_{sampler}")
    wildcard_constraints:
        sampler="|".join(LASS_SAMPLERS),
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_separate"),
    params:
        samplers=dvc_param("lass.samplers"),
        sampler=lambda wildcards: lass_sampler(wildcards.sampler),
        mixtures=cfg("lass.validation_mixtures"),
        refine=cfg("lass.refine"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass separate {LASS_MODEL_ARGS} --mixture-set validation"
        " --mixtures {params.mixtures} --sampler {params.sampler} --refine {params.refine}"
        " --no-ceiling --csv {output} --log {log}"


rule lass_test:
    input:
        **LASS_MODELS,
        code=CODE("lass", "separate"),
    output:
        csv=RP("lass/test.csv"),
        summary=RP("lass/test.json"),
        estimates=DP("lass/test_estimates.npz"),
    log:
        LOGS.format("lass/test"),
    benchmark:
        BENCHMARKS.format("lass/test")
    priority: 1  # the family's longest step after the prior: first, beside Table 5.3's runs
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_separate"),
    params:
        samplers=dvc_param("lass.samplers"),
        sampler=LASS_TEST_SAMPLER,
        mixtures=cfg("lass.test.mixtures"),
        refine=cfg("lass.refine"),
        rerank=cfg("lass.test.rerank"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass separate {LASS_MODEL_ARGS} --mixture-set test"
        " --mixtures {params.mixtures} --sampler {params.sampler} --refine {params.refine}"
        " --rerank {params.rerank} --no-ceiling --csv {output.csv} --summary {output.summary}"
        " --estimates {output.estimates} --log {log}"


# The Average and NMF baselines of the test mixtures, and the ceiling of the test run (refining
# the sources' own codes): it depends on the mixtures and the VQ-VAE only, so it runs here, beside
# the prior and the likelihood, instead of after the test run's separations.
rule lass_baselines:
    input:
        data=LASS_MODELS["data"],
        vqvae=LASS_MODELS["vqvae"],
        code=CODE("lass", "baselines"),
    output:
        RP("lass/baselines.csv"),
    log:
        LOGS.format("lass/baselines"),
    benchmark:
        BENCHMARKS.format("lass/baselines")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_separate"),
    params:
        mixtures=cfg("lass.test.mixtures"),
        nmf=cfg("lass.nmf"),
        refine=cfg("lass.refine"),
        seed=cfg("seed"),
    shell:
        "harness lass baselines --data {input.data} --mixture-set test --mixtures {params.mixtures}"
        " --nmf {params.nmf} --vqvae {input.vqvae} --refine {params.refine} --seed {params.seed}"
        " --threads {threads} --csv {output} --log {log}"


rule lass_timing:
    input:
        **LASS_MODELS,
        code=CODE("lass", "timing"),
    output:
        RP("lass/timing.json"),
    log:
        LOGS.format("lass/timing"),
    benchmark:
        BENCHMARKS.format("lass/timing")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_separate"),
    params:
        samplers=dvc_param("lass.samplers"),
        sampler=LASS_TEST_SAMPLER,
        repeats=cfg("lass.timing_repeats"),
        refine=cfg("lass.refine"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass timing {LASS_MODEL_ARGS} --mixture-set timing"
        " --repeats {params.repeats} --sampler {params.sampler} --refine {params.refine}"
        " --out {output} --log {log}"


# Table 5.4 at the thesis's settings (candidates, T) on this scale's machine and models, where the
# test run's differ (where they are the same, lass_timing's row already is at them).
LASS_TIME_THESIS_SETTINGS = (LASS_TEST_SPEC["candidates"], LASS["refine"]["steps"]) != (
    LASS["timing_thesis_settings"]["candidates"],
    LASS["timing_thesis_settings"]["steps"],
)


if LASS_TIME_THESIS_SETTINGS:

    use rule lass_timing as lass_timing_thesis_settings with:
        output:
            RP("lass/timing_thesis_settings.json"),
        log:
            LOGS.format("lass/timing_thesis_settings"),
        benchmark:
            BENCHMARKS.format("lass/timing_thesis_settings")
        params:
            samplers=dvc_param("lass.samplers"),
            settings=dvc_param("lass.timing_thesis_settings"),
            sampler=smk.json_word(
                {
                    **LASS["samplers"][LASS["test"]["sampler"]],
                    "candidates": LASS["timing_thesis_settings"]["candidates"],
                },
                drop=("label",),
            ),
            repeats=cfg("lass.timing_repeats"),
            refine_settings=dvc_param("lass.refine"),
            refine=smk.json_word(
                {**LASS["refine"], "steps": LASS["timing_thesis_settings"]["steps"]}
            ),
            seed=cfg("seed"),
            device=cfg("device"),


rule lass_celeba_test:
    input:
        **lass_models("celeba"),
        code=CODE("lass", "separate"),
    output:
        csv=RP("lass/celeba/test.csv"),
        summary=RP("lass/celeba/test.json"),
    log:
        LOGS.format("lass/celeba_test"),
    benchmark:
        BENCHMARKS.format("lass/celeba_test")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_separate"),
    params:
        sampler=cfg("lass.celeba.evaluation.sampler") if "celeba" in LASS else "",
        refine=cfg("lass.celeba.evaluation.refine") if "celeba" in LASS else "",
        mixtures=cfg("lass.celeba.evaluation.mixtures") if "celeba" in LASS else "",
        split=cfg("lass.celeba.evaluation.split") if "celeba" in LASS else "",
        weights=(
            cfg("lass.celeba.evaluation.inception_weights") if "celeba" in LASS else ""
        ),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass separate {LASS_MODEL_ARGS} --mixture-set celeba --split {{params.split}}"
        " --mixtures {params.mixtures} --sampler {params.sampler} --refine {params.refine}"
        " --inception-weights {params.weights} --csv {output.csv} --summary {output.summary}"
        " --log {log}"


rule lass_report:
    input:
        likelihood=RP("lass/mnist/likelihood.json"),
        celeba=(
            [RP("lass/celeba/likelihood.json"), RP("lass/celeba/test.json")]
            if "celeba" in LASS["datasets"]
            else []
        ),
        test=rules.lass_test.output.csv,
        test_summary=rules.lass_test.output.summary,
        estimates=rules.lass_test.output.estimates,
        baselines=rules.lass_baselines.output,
        timing=rules.lass_timing.output,
        # where the test run is at the thesis's settings, its timing stands for both rows
        timing_thesis=(
            rules.lass_timing_thesis_settings.output
            if LASS_TIME_THESIS_SETTINGS
            else rules.lass_timing.output
        ),
        samplers=expand(RP("lass/samplers/{sampler}.csv"), sampler=LASS_SAMPLERS),
        # LASS on music (lass_audio.smk): the Slakh rows and Table 5.5
        audio_likelihood=RP("lass/audio/likelihood.json"),
        audio_test=RP("lass/audio/test.csv"),
        audio_test_summary=RP("lass/audio/test.json"),
        audio_baselines=RP("lass/audio/baselines.csv"),
        audio_samplers=expand(
            RP("lass/audio/samplers/{sampler}.csv"),
            sampler=sorted(LASS["audio"]["samplers"]),
        ),
        code=CODE("lass", "report"),
    output:
        table_5_1=RP("lass/table_5_1.csv"),
        table_5_2=RP("lass/table_5_2.csv"),
        table_5_3=RP("lass/table_5_3.csv"),
        table_5_4=RP("lass/table_5_4.csv"),
        table_5_5=RP("lass/table_5_5.csv"),
        figure=report(
            RP("figures/figure_5_3.png"),
            caption="../report/lass_figure.rst",
            category="LASS",
        ),
    log:
        LOGS.format("lass/report"),
    benchmark:
        BENCHMARKS.format("lass/report")
    conda:
        "../../envs/lass.yaml"
    threads: 1
    resources:
        **res("lass_report"),
    params:
        names=smk.json_word({name: s["label"] for name, s in LASS["samplers"].items()}),
        test_sampler=cfg("lass.test.sampler"),
        sampler_csvs=" ".join(
            f"--sampler-csv {name}={RP(f'lass/samplers/{name}.csv')}"
            for name in LASS_SAMPLERS
        ),
        audio_sampler_csvs=" ".join(
            f"--audio-sampler-csv {name}={RP(f'lass/audio/samplers/{name}.csv')}"
            for name in sorted(LASS["audio"]["samplers"])
        ),
        audio_names=smk.json_word(
            {name: s["label"] for name, s in LASS["audio"]["samplers"].items()}
        ),
        audio_test_sampler=cfg("lass.audio.test_sampler"),
        audio_dataset=cfg("lass.audio.dataset"),
        out_dir=lambda wildcards, output: os.path.dirname(output.table_5_1),
        celeba=lambda wildcards, input: (
            f"--celeba-likelihood-meta {input.celeba[0]} --celeba-summary {input.celeba[1]}"
            if input.celeba
            else ""
        ),
    shell:
        "harness lass report --likelihood-meta {input.likelihood} --test-csv {input.test}"
        " --test-summary {input.test_summary}"
        " --test-sampler {params.test_sampler} --baselines-csv {input.baselines}"
        " {params.sampler_csvs} --sampler-names {params.names} --timing {input.timing}"
        " --timing-thesis-settings {input.timing_thesis}"
        " --estimates {input.estimates} --out-dir {params.out_dir} --figure {output.figure}"
        " {params.celeba} --audio-likelihood-meta {input.audio_likelihood}"
        " --audio-test-csv {input.audio_test} --audio-test-summary {input.audio_test_summary}"
        " --audio-baselines-csv {input.audio_baselines} {params.audio_sampler_csvs}"
        " --audio-sampler-names {params.audio_names} --audio-test-sampler {params.audio_test_sampler}"
        " --audio-dataset {params.audio_dataset}"
        " --log {log}"
