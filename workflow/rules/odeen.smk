# Odeen universe and rule language (thesis ch. 3.3; shared/reference/odeen.md).
from harness.core.errors import HarnessError


rule odeen_universe:
    input:
        code=CODE("odeen", "universe"),
    output:
        DP("odeen/universe.txt"),
    log:
        LOGS.format("odeen/universe"),
    benchmark:
        BENCHMARKS.format("odeen/universe")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_universe"),
    shell:
        "harness odeen universe --out {output} --log {log}"


rule odeen_tags:
    input:
        universe=rules.odeen_universe.output[0],
        code=CODE("odeen", "tags"),
    output:
        DP("odeen/tags.npz"),
    log:
        LOGS.format("odeen/tags"),
    benchmark:
        BENCHMARKS.format("odeen/tags")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_tags"),
    shell:
        "harness odeen tags --universe {input.universe} --out {output} --log {log}"


rule odeen_rules:
    input:
        tags=rules.odeen_tags.output[0],
        code=CODE("odeen", "rules"),
    output:
        DP("odeen/rules.tsv"),
    log:
        LOGS.format("odeen/rules"),
    benchmark:
        BENCHMARKS.format("odeen/rules")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_rules"),
    shell:
        "harness odeen rules --tags {input.tags} --out {output} --log {log}"


rule odeen_summary:
    input:
        rules=rules.odeen_rules.output[0],
        code=CODE("odeen", "summary"),
    output:
        metrics=RP("odeen/language.json"),
        plot=RP("odeen/positive_rates.csv"),
        figure=report(
            RP("odeen/positive_rates.png"),
            caption="../report/odeen_positive_rates.rst",
            category="Odeen",
        ),
    log:
        LOGS.format("odeen/summary"),
    benchmark:
        BENCHMARKS.format("odeen/summary")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_summary"),
    params:
        bins=cfg("odeen.histogram_bins"),
        plot_x="positive_rate",
        plot_y="n_rules",
    shell:
        "harness odeen summary --rules {input.rules} --bins {params.bins}"
        " --metrics {output.metrics} --plot {output.plot} --figure {output.figure} --log {log}"


# ----------------------------------------------------------------------------- CRN (3.4-3.5)


# Every <rules>x<structures> training regime of Table 3.2, largest first.
ODEEN_REGIMES = [
    f"{n}x{m}"
    for n in sorted(config["odeen"]["train_rules"], reverse=True)
    for m in sorted(config["odeen"]["train_structures"], reverse=True)
]
if config["odeen"]["main_regime"] not in ODEEN_REGIMES:
    raise HarnessError(
        f"config: odeen.main_regime {config['odeen']['main_regime']} is not one of"
        f" {', '.join(ODEEN_REGIMES)}"
    )
ODEEN_MAIN = config["odeen"]["main_regime"]
ODEEN_DATA = dict(tags=rules.odeen_tags.output[0], rules=rules.odeen_rules.output[0])


wildcard_constraints:
    n="[0-9]+",
    m="[0-9]+",
    which="valid|test",
    emp="emp_r|emp_c",


rule odeen_split:
    input:
        **ODEEN_DATA,
        code=CODE("odeen", "split"),
    output:
        DP("odeen/split.json"),
    log:
        LOGS.format("odeen/split"),
    benchmark:
        BENCHMARKS.format("odeen/split")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_split"),
    params:
        seed=cfg("seed"),
        train=cfg("odeen.train_rules"),
        valid=cfg("odeen.n_valid"),
        test=cfg("odeen.n_test"),
        ex2=cfg("odeen.test_exactly_two"),
    shell:
        "harness odeen split --tags {input.tags} --rules {input.rules} --seed {params.seed}"
        " --train-sizes {params.train} --valid {params.valid} --test {params.test}"
        " --test-exactly-two {params.ex2} --out {output} --log {log}"


rule odeen_games:
    input:
        **ODEEN_DATA,
        split=rules.odeen_split.output[0],
        code=CODE("odeen", "games"),
    output:
        DP("odeen/games_{which}.npz"),
    log:
        LOGS.format("odeen/games_{which}"),
    benchmark:
        BENCHMARKS.format("odeen/games_{which}")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_games"),
    params:
        seed=cfg("seed"),
        size=cfg("odeen.table_size"),
        pairs=cfg("odeen.near_pairs"),
        ell=cfg("odeen.eval_structures"),
    shell:
        "harness odeen games --tags {input.tags} --rules {input.rules} --split {input.split}"
        " --which {wildcards.which} --seed {params.seed} --table-size {params.size}"
        " --pairs {params.pairs} --eval-structures {params.ell} --out {output} --log {log}"


rule odeen_train_data:
    input:
        **ODEEN_DATA,
        split=rules.odeen_split.output[0],
        code=CODE("odeen", "train-data"),
    output:
        DP("odeen/train_{n}x{m}.npz"),
    log:
        LOGS.format("odeen/train_data_{n}x{m}"),
    benchmark:
        BENCHMARKS.format("odeen/train_data_{n}x{m}")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_train_data"),
    params:
        seed=cfg("seed"),
    shell:
        "harness odeen train-data --tags {input.tags} --rules {input.rules} --split {input.split}"
        " --n-rules {wildcards.n} --structures {wildcards.m} --seed {params.seed}"
        " --out {output} --log {log}"


rule odeen_train_interpreter:
    input:
        data=DP("odeen/train_{n}x{m}.npz"),
        valid=DP("odeen/games_valid.npz"),
        code=CODE("odeen", "train"),
    output:
        model=MP("odeen/interpreter_{n}x{m}.pt"),
        plot=RP("odeen/train/interpreter_{n}x{m}.csv"),
        metrics=RP("odeen/train/interpreter_{n}x{m}.json"),
    log:
        LOGS.format("odeen/train_interpreter_{n}x{m}"),
    benchmark:
        BENCHMARKS.format("odeen/train_interpreter_{n}x{m}")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_train_interpreter"),
    params:
        kind="interpreter",
        hparams=cfg("odeen.interpreter"),
        table_size=cfg("odeen.table_size"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("odeen/interpreter_{n}x{m}.ckpt"),
        plot_x="step",
        plot_y="valid_accuracy",
    shell:
        "harness odeen train --kind {params.kind} --data {input.data} --valid {input.valid}"
        " --hparams {params.hparams} --table-size {params.table_size} --regime {wildcards.n}x{wildcards.m}"
        " --seed {params.seed}"
        " --device {params.device}"
        " --threads {threads} --out {output.model} --checkpoint {params.checkpoint}"
        " --history {output.plot} --summary {output.metrics} --log {log}"


use rule odeen_train_interpreter as odeen_train_empiricist with:
    output:
        model=MP("odeen/{emp}_{n}x{m}.pt"),
        plot=RP("odeen/train/{emp}_{n}x{m}.csv"),
        metrics=RP("odeen/train/{emp}_{n}x{m}.json"),
    log:
        LOGS.format("odeen/train_{emp}_{n}x{m}"),
    benchmark:
        BENCHMARKS.format("odeen/train_{emp}_{n}x{m}")
    resources:
        **res("odeen_train_empiricist"),
    params:
        kind=lambda wildcards: wildcards.emp,
        hparams=cfg("odeen.empiricist"),
        table_size=cfg("odeen.table_size"),
        seed=cfg("seed"),
        device=cfg("device"),
        checkpoint=CP("odeen/{emp}_{n}x{m}.ckpt"),
        plot_x="step",
        plot_y="valid_accuracy",


rule odeen_evaluate_crn:
    input:
        **ODEEN_DATA,
        games=DP("odeen/games_test.npz"),
        interpreter=MP("odeen/interpreter_{n}x{m}.pt"),
        # the conjecture generator is EMP-C's rule decoder, as in the original code
        cg=MP("odeen/emp_c_{n}x{m}.pt"),
        code=CODE("odeen", "evaluate"),
    output:
        metrics=RP("odeen/eval/crn_{n}x{m}.json"),
        games=RP("odeen/eval/crn_{n}x{m}_games.csv"),
    log:
        LOGS.format("odeen/evaluate_crn_{n}x{m}"),
    benchmark:
        BENCHMARKS.format("odeen/evaluate_crn_{n}x{m}")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_evaluate_crn"),
    params:
        beams=cfg("odeen.beams"),
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness odeen evaluate --model crn --interpreter {input.interpreter} --cg {input.cg}"
        " --beams {params.beams} --tags {input.tags} --rules {input.rules} --games {input.games}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --out {output.metrics} --games-csv {output.games} --log {log}"


rule odeen_evaluate_empiricist:
    input:
        **ODEEN_DATA,
        games=DP("odeen/games_test.npz"),
        model=MP("odeen/{emp}_{n}x{m}.pt"),
        code=CODE("odeen", "evaluate"),
    output:
        metrics=RP("odeen/eval/{emp}_{n}x{m}.json"),
        games=RP("odeen/eval/{emp}_{n}x{m}_games.csv"),
    log:
        LOGS.format("odeen/evaluate_{emp}_{n}x{m}"),
    benchmark:
        BENCHMARKS.format("odeen/evaluate_{emp}_{n}x{m}")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_evaluate_empiricist"),
    params:
        seed=cfg("seed"),
        device=cfg("device"),
    shell:
        "harness odeen evaluate --model {wildcards.emp} --empiricist {input.model}"
        " --tags {input.tags} --rules {input.rules} --games {input.games}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --out {output.metrics} --games-csv {output.games} --log {log}"


rule odeen_report:
    input:
        crn=expand(RP("odeen/eval/crn_{regime}.json"), regime=ODEEN_REGIMES),
        main=RP(f"odeen/eval/crn_{ODEEN_MAIN}.json"),
        emp_c=RP(f"odeen/eval/emp_c_{ODEEN_MAIN}.json"),
        emp_r=RP(f"odeen/eval/emp_r_{ODEEN_MAIN}.json"),
        code=CODE("odeen", "report"),
    output:
        table_3_1=RP("odeen/table_3_1.csv"),
        table_3_2=RP("odeen/table_3_2.csv"),
        exactly_two=RP("odeen/text_3_exactly_two.csv"),
        strict=RP("odeen/text_3_strict_crn.csv"),
        figure_3_6=report(
            RP("figures/figure_3_6.png"),
            caption="../report/odeen_figure_3_6.rst",
            category="Odeen",
        ),
        figure_exactly_two=report(
            RP("figures/figure_3_exactly_two.png"),
            caption="../report/odeen_exactly_two.rst",
            category="Odeen",
        ),
    log:
        LOGS.format("odeen/report"),
    benchmark:
        BENCHMARKS.format("odeen/report")
    conda:
        "../../envs/odeen.yaml"
    threads: 1
    resources:
        **res("odeen_report"),
    params:
        scale=cfg("scale"),
    shell:
        "harness odeen report --crn {input.crn} --main-crn {input.main} --emp-c {input.emp_c}"
        " --emp-r {input.emp_r} --scale {params.scale} --table-3-1 {output.table_3_1}"
        " --table-3-2 {output.table_3_2} --exactly-two {output.exactly_two}"
        " --strict {output.strict} --figure-3-6 {output.figure_3_6}"
        " --figure-exactly-two {output.figure_exactly_two} --log {log}"
