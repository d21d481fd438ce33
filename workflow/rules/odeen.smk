# Odeen universe and rule language (thesis ch. 3.3; shared/reference/odeen.md).


rule odeen_universe:
    output:
        "data/odeen/universe.txt",
    log:
        LOGS.format("odeen/universe"),
    benchmark:
        BENCHMARKS.format("odeen/universe")
    conda:
        "../../envs/odeen.yaml"
    resources:
        **res("odeen_universe"),
    shell:
        "harness odeen universe --out {output} --log {log}"


rule odeen_tags:
    input:
        rules.odeen_universe.output,
    output:
        "data/odeen/tags.npz",
    log:
        LOGS.format("odeen/tags"),
    benchmark:
        BENCHMARKS.format("odeen/tags")
    conda:
        "../../envs/odeen.yaml"
    resources:
        **res("odeen_tags"),
    shell:
        "harness odeen tags --universe {input} --out {output} --log {log}"


rule odeen_rules:
    input:
        rules.odeen_tags.output,
    output:
        "data/odeen/rules.tsv",
    log:
        LOGS.format("odeen/rules"),
    benchmark:
        BENCHMARKS.format("odeen/rules")
    conda:
        "../../envs/odeen.yaml"
    resources:
        **res("odeen_rules"),
    shell:
        "harness odeen rules --tags {input} --out {output} --log {log}"


rule odeen_summary:
    input:
        rules.odeen_rules.output,
    output:
        metrics="results/odeen/language.json",
        plot="results/odeen/positive_rates.csv",
        figure=report(
            "results/odeen/positive_rates.png",
            caption="../report/odeen_positive_rates.rst",
            category="Odeen",
        ),
    log:
        LOGS.format("odeen/summary"),
    benchmark:
        BENCHMARKS.format("odeen/summary")
    conda:
        "../../envs/odeen.yaml"
    resources:
        **res("odeen_summary"),
    params:
        bins=cfg("odeen.histogram_bins"),
        plot_x="positive_rate",
        plot_y="n_rules",
    shell:
        "harness odeen summary --rules {input} --bins {params.bins}"
        " --metrics {output.metrics} --plot {output.plot} --figure {output.figure} --log {log}"
