"""Accuracy of a scorer (a language model, the symbolic solver, or random choice) on the
Symbol Interpretation sub-tasks, per example, then per sub-task and sentence group."""

from __future__ import annotations

import csv
import io
import os

from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.core.inputs import read_json
from harness.core.logs import progress
from harness.sit.solver import Legend, SolverError, parse_sentence, solve_example

EXAMPLE_COLUMNS = ("model", "subtask", "index", "group", "correct", "predicted")


TASK_SCHEMA = {  # the part of the BIG-bench JSON task format the steps read
    "type": "object",
    "required": ["examples"],
    "properties": {
        "task_prefix": {"type": "string"},
        "examples": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["input", "target_scores"],
                "properties": {
                    "input": {"type": "string"},
                    "target_scores": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {"type": "number"},
                    },
                },
            },
        },
    },
}


def read_task(path: str) -> dict:
    """A BIG-bench JSON task: its examples, each an input and scored answers."""
    return read_json(path, TASK_SCHEMA, "task file")


def group_of(text: str, answer: str) -> str:
    """Sentence group of an example, read from its consistent sentence."""
    try:
        return parse_sentence(answer, Legend.from_text(text)).group
    except SolverError:
        return "unknown"


def select(task: dict, per_group: int | None) -> list[tuple[int, dict, str]]:
    """(index, example, group) of the first ``per_group`` examples of each group (all if None)."""
    prefix, seen, out = task.get("task_prefix", ""), {}, []
    for i, ex in enumerate(task["examples"]):
        answer = max(ex["target_scores"], key=ex["target_scores"].get)
        group = group_of(prefix + ex["input"], answer)
        seen[group] = seen.get(group, 0) + 1
        if per_group is None or seen[group] <= per_group:
            out.append((i, ex, group))
    return out


def evaluate(model_id: str, scorer, tasks: dict[str, dict], per_group: int | None) -> list[dict]:
    """Per-example rows. ``scorer`` is "solver", "random", or an object with ``score``."""
    rows = []
    for subtask, task in tasks.items():
        prefix = task.get("task_prefix", "")
        chosen = select(task, per_group)
        for i, ex, group in progress(chosen, desc=f"{model_id} {subtask}"):
            choices, target = list(ex["target_scores"]), ex["target_scores"]
            best = max(target.values())
            if scorer == "solver":
                sol = solve_example(i, prefix + ex["input"], choices, target)
                predicted, correct = sol.predicted or sol.reason, float(sol.correct)
            elif scorer == "random":  # expected accuracy of a uniform pick
                predicted = ""
                correct = sum(v == best for v in target.values()) / len(choices)
            else:
                scores = scorer.score(prefix + ex["input"], choices)
                predicted = choices[max(range(len(choices)), key=scores.__getitem__)]
                correct = float(target[predicted] == best)
            rows.append(
                {
                    "model": model_id,
                    "subtask": subtask,
                    "index": i,
                    "group": group,
                    "correct": round(correct, 4),
                    "predicted": predicted,
                }
            )
    return rows


def write_rows(path: str, rows: list[dict], columns=EXAMPLE_COLUMNS) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        raise HarnessError(f"scores file {path} does not exist")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for line, row in enumerate(rows, 2):  # 0 or 1, or random choice's expected score
        try:
            ok = 0.0 <= float(row.get("correct") or "x") <= 1.0
        except ValueError:
            ok = False
        if not ok:
            raise HarnessError(
                f"scores file {path} line {line}: correct must be a number in [0, 1], got {row.get('correct')!r:.40}"
            )
    return [dict(r, correct=float(r["correct"])) for r in rows]


def read_tasks(paths: list[str]) -> dict[str, dict]:
    """Tasks by sub-task from files named ``<subtask>.json`` (any other name stops with a line)."""
    from harness.sit.world import SUBTASKS

    tasks = {}
    for path in paths:
        subtask = next((s for s in SUBTASKS if os.path.basename(path) == f"{s}.json"), None)
        if subtask is None:
            raise HarnessError(f"{path}: name the task file <subtask>.json, one of {', '.join(SUBTASKS)}")
        tasks[subtask] = read_task(path)
    return tasks
