"""``harness sit ...``: the Symbol Interpretation steps (thesis ch. 4)."""

from __future__ import annotations

import json

from harness.core.args import NAME, SEED, THREADS, InFile, Int, JsonText, OutFile, Text
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.seeds import derive_seed

# a URL template may use only these fields; any other {field} is refused on the command line
URL_TEMPLATE = Text(
    r"(https?|file)://(?:[^{}]|\{revision\}|\{subtask\})+",
    2000,
    "an http(s)/file URL using only {revision} and {subtask}",
)
SCORE_COLUMNS = ("model", "subtask", "group", "correct")
META_SCHEMA = {  # what `harness sit evaluate` writes to --meta and the report reads
    "type": "object",
    "required": ["id", "name", "row", "parameters", "examples"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "row": {"type": "string"},
        "parameters": {"type": "integer", "minimum": 0},
        "examples": {"type": "integer", "minimum": 1},
        "thesis_row": {"type": "boolean", "description": "row is one of the thesis table's"},
    },
}


def _generate(args):
    from harness.sit.generate import make_task, write_task

    task = make_task(args.subtask, args.per_group, derive_seed(args.seed, "sit", "generate", args.subtask))
    write_task(args.out, task)
    LOG.info("%s: %d examples", args.out, len(task["examples"]))


def _fetch(args):
    import os
    import re
    from pathlib import Path

    from harness.core.atomic import atomic_path
    from harness.core.download import download
    from harness.sit.evaluate import read_task

    if not re.fullmatch(r"[0-9a-f]{40}", args.revision):
        LOG.warning("revision %r is not a commit hash: the files are not pinned", args.revision)
    url = args.url.format(revision=args.revision, subtask=args.subtask)
    # the transfer resumes in a hidden file beside --out, which appears only once the file is a
    # BIG-bench task: a file that fails the checksum or the format is never left as --out
    out = Path(args.out)
    staging = out.with_name(f".{out.name}.download")
    try:
        got = download(url, staging, args.sha256 or None)
        read_task(str(staging))
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    with atomic_path(out) as tmp:
        os.replace(staging, tmp)
    if not args.sha256:
        LOG.warning(
            "no sha256 configured for %s: got %s (record it in the config to verify later runs)", url, got
        )


def _solve(args):
    from harness.sit.evaluate import read_task
    from harness.sit.solver import solve_task

    solutions = solve_task(read_task(args.task))
    for s in solutions:
        status = "ok" if s.correct else ("UNSOLVED" if s.predicted is None else "WRONG")
        print(f"{s.index}\t{s.group or '-'}\t{status}\t{s.predicted or s.reason}")
    print(f"accuracy: {sum(s.correct for s in solutions)}/{len(solutions)}")


def _spec(args):
    from harness.core.config import config_subschema, json_arg
    from harness.core.inputs import check_schema
    from harness.sit.scorers import ModelSpec

    spec = json_arg(args.spec, "--spec")
    if not isinstance(spec, dict) or not spec:
        raise HarnessError(f"model {args.model!r} needs --spec, its sit.models entry (a JSON mapping)")
    check_schema(spec, config_subschema("/properties/sit/properties/models/additionalProperties"), "--spec")
    try:
        return ModelSpec(id=args.model, **spec)
    except TypeError as err:
        raise HarnessError(f"sit.models entry {args.model!r}: {err}") from None


def _evaluate(args):
    from harness.core.atomic import write_text
    from harness.core.provenance import provenance
    from harness.sit.evaluate import evaluate, read_tasks, write_rows
    from harness.sit.report import BUILTIN

    tasks = read_tasks(args.tasks)
    if args.model in BUILTIN:
        scorer = args.model
        meta = {
            "id": args.model,
            "name": BUILTIN[args.model],
            "row": BUILTIN[args.model],
            "thesis_row": args.model == "random",
        }
        per_group, params = None, 0
    else:
        from harness.core.runtime import deterministic_torch
        from harness.sit.scorers import Scorer

        deterministic_torch(args.threads)
        spec = _spec(args)
        scorer = Scorer(spec, device=args.device)
        meta = {
            "id": spec.id,
            "name": spec.name,
            "row": spec.row or spec.name,
            "thesis_row": bool(spec.row),
            "kind": spec.kind,
        }
        per_group, params = args.per_group, scorer.parameters
    rows = evaluate(args.model, scorer, tasks, per_group)
    write_rows(args.out, rows)
    meta.update(parameters=params, examples=len(rows), provenance=provenance(args.seed, args.device))
    write_text(args.meta, json.dumps(meta, indent=1) + "\n")
    acc = sum(r["correct"] for r in rows) / max(len(rows), 1)
    LOG.info("%s: accuracy %.3f over %d examples", args.model, acc, len(rows))


def _report(args):
    from harness.core.inputs import read_json
    from harness.sit.evaluate import read_rows, write_rows
    from harness.sit.report import COLUMNS, accuracy_table, plot_accuracy_vs_parameters, table_4_3_rows
    from harness.tables.ours import write_ours_csv

    if len(args.scores) != len(args.meta):
        raise HarnessError(
            f"{len(args.scores)} --scores files but {len(args.meta)} --meta files: give one of each per model"
        )
    runs = [
        (read_json(meta, META_SCHEMA, "meta file"), read_rows(scores))
        for scores, meta in zip(args.scores, args.meta)
    ]
    ids = [meta["id"] for meta, _ in runs]
    if len(set(ids)) != len(ids):
        raise HarnessError(f"--meta files name a model twice ({', '.join(ids)})")
    acc = accuracy_table(runs)
    write_rows(args.accuracy, acc, columns=("model", "name", "subtask", "group", "accuracy", "examples"))
    # a model without a thesis row (the solver, a substitute language model) is a row only ours
    only_ours = {meta["row"] for meta, _ in runs if not meta.get("thesis_row")}
    write_ours_csv(args.table, table_4_3_rows(acc, runs, COLUMNS), only_ours)
    plot_accuracy_vs_parameters(runs, acc, args.figure, args.scale)


def register(sub, step) -> None:
    from harness.sit.world import SUBTASKS

    p = step(sub, "generate", _generate, "a generated sub-task in the BIG-bench JSON format")
    p.add_argument("--subtask", required=True, choices=SUBTASKS)
    p.add_argument(
        "--per-group", type=Int(1, 100_000), required=True, help="examples per sentence group (BIG-bench: 66)"
    )
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--out", type=OutFile(), required=True, metavar="JSON")
    p = step(sub, "fetch", _fetch, "download an official BIG-bench sub-task at a pinned revision")
    p.add_argument("--subtask", required=True, choices=SUBTASKS)
    p.add_argument(
        "--url",
        type=URL_TEMPLATE,
        required=True,
        help="http(s) or file URL; may use {revision} and {subtask}",
    )
    p.add_argument("--revision", type=NAME, required=True)
    p.add_argument(
        "--sha256",
        type=Text(r"(|[0-9a-f]{64})", 64, "a sha256 hex digest"),
        default="",
        help="expected checksum (empty: record the one received)",
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="JSON")
    p = step(sub, "solve", _solve, "solve TASK.json symbolically: one line per example, then 'accuracy: K/N'")
    p.add_argument("task", type=InFile("json"), metavar="TASK.json")
    p = step(sub, "evaluate", _evaluate, "per-example accuracy of a model, the solver or random choice")
    p.add_argument(
        "--model", type=NAME, required=True, help="solver, random, or an id of the config's sit.models"
    )
    p.add_argument(
        "--spec",
        type=JsonText(),
        default="{}",
        metavar="JSON",
        help="the model's sit.models entry (not for solver, random)",
    )
    p.add_argument(
        "--tasks", type=InFile("json"), nargs="+", required=True, metavar="JSON", help="<subtask>.json files"
    )
    p.add_argument(
        "--per-group",
        type=Int(1, 100_000, none_ok=True),
        help="language models: examples per group and sub-task (None: all)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    p.add_argument(
        "--seed", type=SEED, required=True, help="recorded with the result (scoring is deterministic)"
    )
    p.add_argument("--out", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--meta", type=OutFile(), required=True, metavar="JSON", help="name, parameters, seconds")
    p = step(sub, "report", _report, "Table 4.3, per-group accuracies and Figure 4.2")
    p.add_argument("--scores", type=InFile("csv", SCORE_COLUMNS), nargs="+", required=True, metavar="CSV")
    p.add_argument("--meta", type=InFile("json"), nargs="+", required=True, metavar="JSON")
    p.add_argument("--scale", required=True, choices=["embedded", "thesis"])
    p.add_argument("--table", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--accuracy", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--figure", type=OutFile(), required=True, metavar="PNG")
