# LASS on images (thesis ch. 5): MNIST -> VQ-VAE -> GPT-2 prior and sparse likelihood counts ->
# separation with each sampler (Table 5.3), the test separation and baselines (Table 5.2), the
# timing (Table 5.4), then our values of Tables 5.1-5.4 and Figure 5.3.
import json
import shlex

LASS = config["lass"]
LASS_SAMPLERS = sorted(LASS["samplers"])
lass_sampler = partial(smk.lass_sampler, config)


rule lass_mnist:
    output:
        "data/lass/mnist.npz",
    log:
        LOGS.format("lass/mnist"),
    benchmark:
        BENCHMARKS.format("lass/mnist")
    conda:
        "../../envs/lass.yaml"
    resources:
        **res("lass_mnist"),
    params:
        source=cfg("lass.mnist.source"),
        spec=cfg("lass.mnist"),
    shell:
        "harness lass mnist --source {params.source} --spec {params.spec}"
        " --downloads data/downloads/mnist --out {output} --log {log}"


rule lass_vqvae:
    input:
        rules.lass_mnist.output,
    output:
        model="models/lass/vqvae.pt",
        plot=RP("lass/vqvae.csv"),
        meta=RP("lass/vqvae.json"),
    log:
        LOGS.format("lass/vqvae"),
    benchmark:
        BENCHMARKS.format("lass/vqvae")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_train"),
    params:
        settings=cfg("lass.vqvae"),
        valid=cfg("lass.valid_images"),
        seed=cfg("seed"),
        device=cfg("device"),
        plot_x="step",
        plot_y="valid_mse",
    shell:
        "harness lass train-vqvae --data {input} --settings {params.settings} --valid {params.valid}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --checkpoint checkpoints/lass/vqvae.ckpt --out {output.model} --history {output.plot}"
        " --meta {output.meta} --log {log}"


rule lass_prior:
    input:
        data=rules.lass_mnist.output,
        vqvae=rules.lass_vqvae.output.model,
    output:
        model="models/lass/prior.pt",
        plot=RP("lass/prior.csv"),
        meta=RP("lass/prior.json"),
    log:
        LOGS.format("lass/prior"),
    benchmark:
        BENCHMARKS.format("lass/prior")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_train"),
    params:
        settings=cfg("lass.prior"),
        valid=cfg("lass.valid_images"),
        seed=cfg("seed"),
        device=cfg("device"),
        plot_x="step",
        plot_y="valid_nll",
    shell:
        "harness lass train-prior --data {input.data} --vqvae {input.vqvae} --settings {params.settings}"
        " --valid {params.valid} --seed {params.seed} --device {params.device} --threads {threads}"
        " --checkpoint checkpoints/lass/prior.ckpt --out {output.model} --history {output.plot}"
        " --meta {output.meta} --log {log}"


rule lass_likelihood:
    input:
        data=rules.lass_mnist.output,
        vqvae=rules.lass_vqvae.output.model,
    output:
        counts="models/lass/likelihood.pt",
        meta=RP("lass/likelihood.json"),
    log:
        LOGS.format("lass/likelihood"),
    benchmark:
        BENCHMARKS.format("lass/likelihood")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_train"),
    params:
        epochs=cfg("lass.likelihood.epochs"),
        batch=cfg("lass.likelihood.batch"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness lass likelihood --data {input.data} --vqvae {input.vqvae} --epochs {params.epochs}"
        " --batch {params.batch} --seed {params.seed} --device {params.device} --threads {threads}"
        " --out {output.counts} --meta {output.meta} --log {log}"


LASS_MODELS = dict(
    data=rules.lass_mnist.output[0],
    vqvae=rules.lass_vqvae.output.model,
    prior=rules.lass_prior.output.model,
    counts=rules.lass_likelihood.output.counts,
)
LASS_MODEL_ARGS = (
    "--data {input.data} --vqvae {input.vqvae} --prior {input.prior} --counts {input.counts}"
    " --seed {params.seed} --device {params.device} --threads {threads}"
)


rule lass_validate_sampler:
    input:
        **LASS_MODELS,
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
        samplers=cfg("lass.samplers"),
        sampler=lambda wildcards: lass_sampler(wildcards.sampler),
        mixtures=cfg("lass.validation_mixtures"),
        refine=cfg("lass.refine"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass separate {LASS_MODEL_ARGS} --mixture-set validation"
        " --mixtures {params.mixtures} --sampler {params.sampler} --refine {params.refine}"
        " --csv {output} --log {log}"


rule lass_test:
    input:
        **LASS_MODELS,
    output:
        csv=RP("lass/test.csv"),
        estimates="data/lass/test_estimates.npz",
    log:
        LOGS.format("lass/test"),
    benchmark:
        BENCHMARKS.format("lass/test")
    conda:
        "../../envs/lass.yaml"
    threads: LASS["threads"]
    resources:
        **res("lass_separate"),
    params:
        samplers=cfg("lass.samplers"),
        sampler=lass_sampler(LASS["test"]["sampler"]),
        mixtures=cfg("lass.test.mixtures"),
        refine=cfg("lass.refine"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass separate {LASS_MODEL_ARGS} --mixture-set test"
        " --mixtures {params.mixtures} --sampler {params.sampler} --refine {params.refine}"
        " --csv {output.csv} --estimates {output.estimates} --log {log}"


rule lass_baselines:
    input:
        rules.lass_mnist.output,
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
        seed=cfg("seed"),
    shell:
        "harness lass baselines --data {input} --mixture-set test --mixtures {params.mixtures}"
        " --nmf {params.nmf} --seed {params.seed} --threads {threads} --csv {output} --log {log}"


rule lass_timing:
    input:
        **LASS_MODELS,
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
        samplers=cfg("lass.samplers"),
        sampler=lass_sampler(LASS["test"]["sampler"]),
        repeats=cfg("lass.timing_repeats"),
        refine=cfg("lass.refine"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        f"harness lass timing {LASS_MODEL_ARGS} --mixture-set timing"
        " --repeats {params.repeats} --sampler {params.sampler} --refine {params.refine}"
        " --out {output} --log {log}"


rule lass_report:
    input:
        likelihood=rules.lass_likelihood.output.meta,
        test=rules.lass_test.output.csv,
        estimates=rules.lass_test.output.estimates,
        baselines=rules.lass_baselines.output,
        timing=rules.lass_timing.output,
        samplers=expand(RP("lass/samplers/{sampler}.csv"), sampler=LASS_SAMPLERS),
    output:
        table_5_1=RP("lass/table_5_1.csv"),
        table_5_2=RP("lass/table_5_2.csv"),
        table_5_3=RP("lass/table_5_3.csv"),
        table_5_4=RP("lass/table_5_4.csv"),
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
    resources:
        **res("lass_report"),
    params:
        names=shlex.quote(
            json.dumps({name: s["label"] for name, s in LASS["samplers"].items()})
        ),
        test_sampler=cfg("lass.test.sampler"),
        sampler_csvs=" ".join(
            f"--sampler-csv {name}={RP(f'lass/samplers/{name}.csv')}"
            for name in LASS_SAMPLERS
        ),
        out_dir=lambda wildcards, output: os.path.dirname(output.table_5_1),
    shell:
        "harness lass report --likelihood-meta {input.likelihood} --test-csv {input.test}"
        " --test-sampler {params.test_sampler} --baselines-csv {input.baselines}"
        " {params.sampler_csvs} --sampler-names {params.names} --timing {input.timing}"
        " --estimates {input.estimates} --out-dir {params.out_dir} --figure {output.figure}"
        " --log {log}"
