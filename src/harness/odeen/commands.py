"""``harness odeen ...``: the Odeen steps of the pipeline (thesis ch. 3)."""

from __future__ import annotations

import json
import re

from harness.core.args import SEED, THREADS, InFile, Int, JsonText, OutFile, StateFile, Text
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.seeds import derive_seed
from harness.odeen.language import UNIVERSE_SIZE

MAX_LABELLED = 200_000_000
RULES_TSV = InFile("tsv", ("rule", "kind", "n_tokens", "n_positive", "label_class"))


def _universe(args):
    from harness.odeen.data import write_universe

    write_universe(args.out)


def _tags(args):
    from harness.odeen.data import read_universe, write_tags

    write_tags(args.out, read_universe(args.universe))


def _rules(args):
    from harness.odeen import data

    if args.tags:
        rules, packed, _ = data.read_tags(args.tags)
    else:
        from harness.odeen.interpreter import tag_matrix

        rules, packed = tag_matrix()
    data.write_rules_tsv(args.out, data.rules_table(rules, packed))


def _summary(args):
    from harness.odeen import data

    table = data.read_rules_tsv(args.rules)
    metrics, hist = data.summarise(table, args.n_structures, bins=args.bins)
    data.write_summary(metrics, hist, args.metrics, args.plot)
    if args.figure:
        data.plot_positive_rates(hist, args.figure)
    LOG.info("%s", metrics)


def _label(args):
    import numpy as np

    from harness.odeen.interpreter import label
    from harness.odeen.language import OdeenSyntaxError, structure_from_str

    try:
        labels = label(args.rule, np.stack([structure_from_str(s) for s in args.structures]))
    except (OdeenSyntaxError, ValueError) as err:
        raise HarnessError(str(err)) from None
    for s, lab in zip(args.structures, labels):
        print(f"{s}\t{int(lab)}")


def _rules_info(tags_path: str, rules_path: str):
    import numpy as np

    from harness.odeen.data import read_rules_tsv, read_tags

    rules, packed, _ = read_tags(tags_path)
    table = read_rules_tsv(rules_path)
    if [r["rule"] for r in table] != rules:
        raise HarnessError(f"{rules_path} does not list the rules of {tags_path} in the same order")
    classes = np.array([r["label_class"] for r in table])
    return rules, packed, classes, np.array([r["n_positive"] for r in table])


def _known(names: list[str], rules: list[str], path: str) -> None:
    """Every rule a split names must be a rule of the tag matrix."""
    unknown = sorted(set(names) - set(rules))
    if unknown:
        raise HarnessError(
            f"{path}: {len(unknown)} rules are not in the tag matrix, e.g. {unknown[0][:80]!r}"
        )


def _split(args):
    from harness.odeen.games import make_split, write_split

    rules, _, classes, n_pos = _rules_info(args.tags, args.rules)
    seed = derive_seed(args.seed, "odeen", "split")
    sizes = [int(x) for x in re.findall(r"[^\s,\[\]]+", " ".join(args.train_sizes)) if x.isdigit() or _bad(x)]
    write_split(
        args.out, make_split(rules, classes, n_pos, sizes, args.valid, args.test, args.test_exactly_two, seed)
    )


def _bad(token: str) -> bool:
    raise HarnessError(f"--train-sizes: {token!r} is not a number of rules")


def _games(args):
    import numpy as np

    from harness.odeen import games

    rules, packed, classes, _ = _rules_info(args.tags, args.rules)
    names = games.read_split(args.split)[args.which]
    _known(names, rules, args.split)
    if 2 * args.pairs > args.table_size:
        raise HarnessError(
            f"--pairs {args.pairs}: {2 * args.pairs} structures exceed --table-size {args.table_size}"
        )
    seed = derive_seed(args.seed, "odeen", "games", args.which)
    ids, tables, labels = games.make_games(rules, names, packed, classes, args.table_size, args.pairs, seed)
    bad = [rules[r] for r, t in zip(ids, tables) if len(games.rivals_of_game(packed, classes, r, t))]
    if bad:
        raise HarnessError(f"odeen games: {len(bad)} games are ambiguous, e.g. {bad[0]!r}")
    ev = games.eval_structures(
        tables, args.eval_structures, derive_seed(args.seed, "odeen", "eval", args.which)
    )
    games.write_npz(
        args.out, rules=np.array(names), rule_ids=ids, tables=tables, labels=labels, eval_structures=ev
    )
    LOG.info(
        "%d unique %s games of %d structures, %d evaluation structures",
        len(ids),
        args.which,
        tables.shape[1],
        len(ev),
    )


def _train_data(args):
    import numpy as np

    from harness.odeen import games

    rules, packed, _, _ = _rules_info(args.tags, args.rules)
    split = games.read_split(args.split)
    if str(args.n_rules) not in split["train"]:
        raise HarnessError(f"split has no {args.n_rules}-rule training set (has {', '.join(split['train'])})")
    names = split["train"][str(args.n_rules)]
    _known(names, rules, args.split)
    if len(names) * args.structures > MAX_LABELLED:  # 5 bytes each: refuse before allocating
        raise HarnessError(
            f"{len(names)} rules x {args.structures} structures = {len(names) * args.structures:,} labelled "
            f"structures, more than the {MAX_LABELLED:,} (1 GB) a training set may hold (thesis: 14,380,000)"
        )
    index = {r: i for i, r in enumerate(rules)}
    seed = derive_seed(args.seed, "odeen", "train-data", args.n_rules, args.structures)
    data = games.training_data([index[r] for r in names], packed, args.structures, seed)
    games.write_npz(args.out, rules=np.array(names), **data)


def _hparams(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise HarnessError(f"--hparams is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise HarnessError("--hparams must be a JSON object")
    return value


def _device(name: str) -> str:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise HarnessError("device cuda requested but torch sees no CUDA GPU (use --device cpu)")
    return name


def provenance(args) -> dict:
    from harness.core.provenance import provenance as record

    return record(args.seed, args.device)


def _train(args):
    import dataclasses

    from harness.core.config import settings as config_settings
    from harness.core.runtime import deterministic_torch
    from harness.odeen.games import GAME_KEYS, read_npz
    from harness.odeen.games import TRAIN_KEYS as DATA_KEYS
    from harness.odeen.models import ModelConfig
    from harness.odeen.train import TrainConfig, train

    hp = _hparams(args.hparams)
    # regime_steps: {"<n>x<m>": steps} overrides `steps` for the job's regime (--regime)
    regime_steps = hp.pop("regime_steps", None) or {}
    if args.regime in regime_steps:
        hp["steps"] = regime_steps[args.regime]
    # the config's odeen.<model> entry: the model's size and its training (EMP-C / EMP-R entries
    # add rule_loss_weight); odeen.table_size and the derived seed complete the training settings
    model_keys = [f.name for f in dataclasses.fields(ModelConfig)]
    known = model_keys + [
        f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("table_size", "seed")
    ]
    unknown = sorted(set(hp) - set(known))
    if unknown:
        raise HarnessError(f"--hparams: unknown key {unknown[0]!r}")
    model_cfg = config_settings(ModelConfig, {k: hp[k] for k in model_keys if k in hp}, "--hparams")
    train_hp = {k: v for k, v in hp.items() if k not in model_keys}
    if args.kind in ("interpreter", "cg"):  # only the empiricists weigh a rule loss
        train_hp.setdefault("rule_loss_weight", None)
    device = _device(args.device)
    deterministic_torch(args.threads)
    data = read_npz(args.data, DATA_KEYS, "training data")
    valid = read_npz(args.valid, GAME_KEYS, "validation games") if args.valid else None
    rules = [str(r) for r in data["rules"]]
    if valid is not None:  # validation games name their own rules
        valid = dict(valid, rule_ids=range(len(valid["rules"])))
    seed = derive_seed(args.seed, "odeen", "train", args.kind, *data["structures"].shape)
    train_cfg = config_settings(
        TrainConfig, dict(train_hp, table_size=args.table_size, seed=seed), "--hparams"
    )
    summary = train(
        args.kind,
        model_cfg,
        train_cfg,
        rules,
        data,
        valid,
        [str(r) for r in valid["rules"]] if valid is not None else rules,
        args.out,
        args.checkpoint or args.out + ".ckpt",
        args.history,
        device=device,
        stop_after=args.stop_after,
    )
    if summary is not None and args.summary:
        from harness.core.atomic import write_text

        summary.update(model=model_cfg.__dict__, provenance=provenance(args))
        write_text(args.summary, json.dumps(summary, indent=1) + "\n")


def _evaluate(args):
    from harness.core.runtime import deterministic_torch
    from harness.odeen import evaluate
    from harness.odeen.models import load_model

    device = _device(args.device)
    deterministic_torch(args.threads)
    if args.model == "crn" and not (args.interpreter and args.cg and args.beams):
        raise HarnessError("--model crn needs --interpreter, --cg and --beams")
    if args.model != "crn" and not args.empiricist:
        raise HarnessError(f"--model {args.model} needs --empiricist")
    ctx = evaluate.load_context(args.tags, args.rules, args.games, limit=args.limit)
    if args.model == "crn":
        interpreter, _ = load_model(args.interpreter, "interpreter", device)
        # the conjecture generator: a CG, or EMP-C's rule decoder as in the original code
        cg, _ = load_model(args.cg, ("cg", "emp_c"), device)
        result = evaluate.run_crn(cg, interpreter, ctx, args.beams, device)
        result["summary"]["beams"] = args.beams
    else:
        model, _ = load_model(args.empiricist, args.model, device)
        result = evaluate.run_empiricist(model, ctx, device)
    result["summary"]["test_games"] = len(ctx.names())
    evaluate.write_evaluation(result, args.out, args.games_csv, provenance(args))


def _report(args):
    from harness.odeen import report
    from harness.tables.ours import write_ours_csv

    crn = {report.regime_of(p): report.read_json(p, "crn") for p in args.crn}
    main = report.regime_of(args.main_crn)
    if main not in crn:
        crn[main] = report.read_json(args.main_crn, "crn")
    emp_c, emp_r = report.read_json(args.emp_c, "emp_c"), report.read_json(args.emp_r, "emp_r")
    rows, note = report.table_3_1(crn[main], emp_c, emp_r)
    write_ours_csv(args.table_3_1, rows, only_ours=report.BASELINES.values(), note=note)
    write_ours_csv(args.table_3_2, report.table_3_2(crn), only_ours=[report.BASELINES["majority_label"]])
    ex2 = report.exactly_two_rows(crn[main], emp_c, emp_r)
    write_ours_csv(args.exactly_two, ex2)
    write_ours_csv(args.strict, report.strict_rows(crn[main]))
    report.plot_thinking_time(crn[main], args.figure_3_6, args.scale)
    report.plot_exactly_two(ex2, args.figure_exactly_two, args.scale)


def register(sub, step) -> None:
    """Add the odeen steps to the ``odeen`` subparser ``sub`` (``step`` adds --log/-v)."""
    _register_language(sub, step)
    _register_games(sub, step)
    _register_models(sub, step)


def _register_language(sub, step) -> None:
    p = step(sub, "universe", _universe, "write the 117,649 structures of U, one per line")
    p.add_argument("--out", type=OutFile(), required=True, metavar="FILE")
    p = step(sub, "tags", _tags, "label every structure with every rule (bit-packed .npz)")
    p.add_argument(
        "--universe", type=InFile("text"), required=True, metavar="FILE", help="from `harness odeen universe`"
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="FILE")
    p = step(sub, "rules", _rules, "write every rule as TSV: rule, kind, n_tokens, n_positive, label_class")
    p.add_argument(
        "--tags", type=InFile("npz"), metavar="FILE", help="tag matrix to read (computed afresh if omitted)"
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="FILE")
    p = step(sub, "summary", _summary, "language statistics (metrics JSON) and positive-rate histogram (CSV)")
    p.add_argument("--rules", type=RULES_TSV, required=True, metavar="TSV", help="from `harness odeen rules`")
    p.add_argument(
        "--n-structures",
        type=Int(1, UNIVERSE_SIZE),
        default=UNIVERSE_SIZE,
        help="size of the universe the counts are of (default: all 7**6 structures)",
    )
    p.add_argument("--bins", type=Int(1, 10_000), required=True)
    p.add_argument("--metrics", type=OutFile(), required=True, metavar="JSON")
    p.add_argument("--plot", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--figure", type=OutFile(), metavar="PNG", help="also draw the histogram")
    p = step(sub, "label", _label, "print the label RULE gives each STRUCTURE (e.g. 'b.aA.V')")
    p.add_argument("rule", type=Text(max_chars=500, what="a rule"))
    p.add_argument("structures", type=Text(max_chars=100, what="a structure"), nargs="+", metavar="STRUCTURE")


def _tags_and_rules(p) -> None:
    p.add_argument(
        "--tags", type=InFile("npz"), required=True, metavar="NPZ", help="from `harness odeen tags`"
    )
    p.add_argument("--rules", type=RULES_TSV, required=True, metavar="TSV", help="from `harness odeen rules`")
    p.add_argument("--seed", type=SEED, required=True, help="master seed (config `seed`)")


def _register_games(sub, step) -> None:
    p = step(sub, "split", _split, "training rule sets, validation and test rules (JSON)")
    _tags_and_rules(p)
    p.add_argument(
        "--train-sizes", type=Text(r"[\s\d,\[\]]+", 200, "rule counts"), nargs="+", required=True,
        help="e.g. 1438 500 or [1438,500]",
    )  # fmt: skip
    p.add_argument("--valid", type=Int(1, UNIVERSE_SIZE), required=True)
    p.add_argument("--test", type=Int(1, UNIVERSE_SIZE), required=True)
    p.add_argument(
        "--test-exactly-two",
        type=Int(0, UNIVERSE_SIZE),
        required=True,
        help="of --test, rules with 'exactly 2'",
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="JSON")
    p = step(sub, "games", _games, "unique 32-structure games of the validation or test rules (.npz)")
    _tags_and_rules(p)
    p.add_argument("--split", type=InFile("json"), required=True, metavar="JSON")
    p.add_argument("--which", required=True, choices=["valid", "test"])
    p.add_argument("--table-size", type=Int(2, 1024), required=True)
    p.add_argument("--pairs", type=Int(0, 512), required=True, help="near-identical pairs opening each table")
    p.add_argument(
        "--eval-structures", type=Int(1, UNIVERSE_SIZE), required=True, help="ell: structures scored per game"
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="NPZ")
    p = step(sub, "train-data", _train_data, "m labelled structures per training rule (.npz)")
    _tags_and_rules(p)
    p.add_argument("--split", type=InFile("json"), required=True, metavar="JSON")
    p.add_argument("--n-rules", type=Int(1, UNIVERSE_SIZE), required=True)
    p.add_argument(
        "--structures", type=Int(1, UNIVERSE_SIZE), required=True, help="m: labelled structures per rule"
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="NPZ")


def _runtime(p) -> None:
    p.add_argument("--seed", type=SEED, required=True, help="master seed (config `seed`)")
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--threads", type=THREADS, required=True, help="torch CPU threads (0: torch's default)")


def _register_models(sub, step) -> None:
    p = step(sub, "train", _train, "train an Odeen model; resumes from its checkpoint after a kill")
    p.add_argument("--kind", required=True, choices=["interpreter", "cg", "emp_r", "emp_c"])
    p.add_argument(
        "--data", type=InFile("npz"), required=True, metavar="NPZ", help="from `harness odeen train-data`"
    )
    p.add_argument(
        "--valid", type=InFile("npz"), metavar="NPZ", help="validation games (from `harness odeen games`)"
    )
    p.add_argument(
        "--hparams",
        type=JsonText(schema="/$defs/odeen_model"),
        required=True,
        metavar="JSON",
        help="the config's odeen.<model> entry",
    )
    p.add_argument(
        "--table-size",
        type=Int(2, 1024),
        required=True,
        help="structures per training table (odeen.table_size)",
    )
    p.add_argument(
        "--regime",
        type=Text(r"([0-9]+x[0-9]+)?", 32, "a regime <rules>x<structures>"),
        default="",
        metavar="NxM",
        help="the data regime, for the --hparams regime_steps entry",
    )
    _runtime(p)
    p.add_argument("--out", type=OutFile(), required=True, metavar="PT")
    p.add_argument(
        "--checkpoint", type=StateFile(), metavar="FILE", help="resumable state (default: OUT.ckpt)"
    )
    p.add_argument("--history", type=OutFile(), metavar="CSV", help="loss curve")
    p.add_argument("--summary", type=OutFile(), metavar="JSON", help="training time, parameters, versions")
    p.add_argument(
        "--stop-after", type=Int(1, 10**9), metavar="STEPS", help="stop early as a preemption would"
    )
    p = step(sub, "evaluate", _evaluate, "NRS, T-Acc, R-Acc of a CRN or an empiricist on the test games")
    p.add_argument("--model", required=True, choices=["crn", "emp_r", "emp_c"])
    p.add_argument("--interpreter", type=InFile("pt"), metavar="PT")
    p.add_argument(
        "--cg", type=InFile("pt"), metavar="PT", help="the conjecture generator: a cg or emp_c model"
    )
    p.add_argument("--empiricist", type=InFile("pt"), metavar="PT")
    p.add_argument("--beams", type=Int(1, 4096), help="t: conjectures per game (the CRN only)")
    _tags_and_rules(p)
    p.add_argument("--games", type=InFile("npz"), required=True, metavar="NPZ")
    p.add_argument("--limit", type=Int(1, 10**7), help="only the first N games")
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    p.add_argument("--out", type=OutFile(), required=True, metavar="JSON")
    p.add_argument("--games-csv", type=OutFile(), metavar="CSV", help="per-game predictions")
    p = step(sub, "report", _report, "Tables 3.1, 3.2, section 3.5 results and Figure 3.6 from evaluations")
    p.add_argument(
        "--crn",
        type=InFile("json"),
        nargs="+",
        required=True,
        metavar="JSON",
        help="crn_<n>x<m>.json, every regime",
    )
    p.add_argument(
        "--main-crn", type=InFile("json"), required=True, metavar="JSON", help="the Table 3.1 regime"
    )
    p.add_argument("--emp-c", type=InFile("json"), required=True, metavar="JSON")
    p.add_argument("--emp-r", type=InFile("json"), required=True, metavar="JSON")
    p.add_argument("--scale", required=True, choices=["embedded", "thesis"])
    for name in ("table-3-1", "table-3-2", "exactly-two", "strict"):
        p.add_argument(f"--{name}", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--figure-3-6", type=OutFile(), required=True, metavar="PNG")
    p.add_argument("--figure-exactly-two", type=OutFile(), required=True, metavar="PNG")
