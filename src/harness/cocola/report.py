"""Table 7.1 (our values beside the thesis's), the accuracy of every model and baseline at
K = 2, 4 and 8 (``accuracy.csv`` / ``accuracy.md``), and Figure 7.3 (bilinear vs cosine
similarity during the training of the All model)."""

from __future__ import annotations

import csv
from pathlib import Path

from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.core.figures import pyplot, save_figure
from harness.core.rows import write_rows_csv
from harness.tables.ours import write_ours_csv

BASELINES = {"untrained": "Untrained encoder (seeded init)", "chroma": "Chroma cosine (no learning)"}
ACCURACY = ("model", "test_set", "k", "accuracy", "sem", "chance", "pairs")
# Table 7.1's rows (training sets) and columns (test sets); `tables build` checks them
THESIS_ROWS = ("MoisesDB", "Slakh2100", "CocoChorales", "All")
THESIS_COLUMNS = ("MUSDB18-HQ", "MoisesDB", "Slakh2100", "CocoChorales")


def _read(path: str, columns, what: str, numeric=()) -> list[dict]:
    """The rows of a CSV with ``columns``; the ``numeric`` ones must hold numbers (or nothing)."""
    if not Path(path).is_file():
        raise HarnessError(f"{what} {path} not found (run its rule)")
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise HarnessError(f"{path}: not a {what} (no column {sorted(missing)[0]!r})")
        rows = list(reader)
    for line, row in enumerate(rows, 2):
        for col in numeric:
            try:
                if row[col] not in ("", None):
                    float(row[col])
            except (TypeError, ValueError):
                raise HarnessError(f"{path} line {line}: {col} is not a number ({row[col]!r})") from None
    if not rows:
        raise HarnessError(f"{path}: an empty {what}")
    return rows


def _named(items: list[str], what: str) -> list[tuple[str, str]]:
    out = [tuple(item.split("=", 1)) for item in items]
    if not out:
        raise HarnessError(f"no {what} given")
    return out


def model_label(model: str, names: dict[str, str]) -> str:
    """The Table 7.1 row of a model: the thesis dataset its training set stands for, or All."""
    if model == "all":
        return "All"
    if model.startswith("all_"):
        return f"All ({model[4:]} similarity)"
    if model in BASELINES:
        return BASELINES[model]
    return names.get(model, model)


def write_report(args) -> None:
    import json

    names = json.loads(args.names)
    held_out = json.loads(args.held_out)
    out = Path(args.out_dir)
    results = {}
    for model, path in _named(args.accuracy, "--accuracy"):
        for r in _read(path, ACCURACY, "accuracy CSV", ("k", "accuracy", "sem", "chance")):
            results[(model, r["test_set"], int(float(r["k"])))] = r
    test_sets = list(dict.fromkeys(t for _, t, _ in results))
    models = list(dict.fromkeys(m for m, _, _ in results))
    # Table 7.1: K = 2, the thesis's rows (training sets) and columns (test sets)
    rows, only = [], []
    for model in models:
        row = model_label(model, names)
        if row not in THESIS_ROWS:
            only.append(row)
        for test in test_sets:
            r = results.get((model, test, 2))
            if r is not None:
                rows.append((row, names.get(test, test), f"{float(r['accuracy']):.2f}%"))
    pairs_of_two = [r for (_, _, k), r in results.items() if k == 2]
    if not pairs_of_two:
        raise HarnessError("no accuracy at K = 2 in the --accuracy files: Table 7.1 is K = 2")
    chance = float(pairs_of_two[0]["chance"])
    rows += [("Chance (1 / K)", names.get(t, t), f"{chance:.2f}%") for t in test_sets]
    only.append("Chance (1 / K)")
    covered = {names.get(t, t) for t in test_sets} | {model_label(m, names) for m in models}
    absent = [x for x in THESIS_ROWS + THESIS_COLUMNS if x not in covered]
    for r_name in THESIS_ROWS:
        for c_name in THESIS_COLUMNS:
            if r_name in absent or c_name in absent:
                rows.append((r_name, c_name, "not run (no stand-in at this scale)"))
    stand_ins = ", ".join(f"{names[d]} = {d}" for d in names if d in test_sets or d in models)
    note = (f"our datasets stand in for the thesis's: {stand_ins}; held out (never trained on): "
            f"{', '.join(held_out) or 'none'}. Accuracy over random batches of K = 2 test pairs.")  # fmt: skip
    write_ours_csv(str(out / "table_7_1.csv"), rows, only_ours=only, note=note)
    # every model and baseline at every K
    long = [{**results[key], "model": key[0], "row": model_label(key[0], names)} for key in results]
    write_rows_csv(str(out / "accuracy.csv"), long, ["model", "row", "test_set", "k", "accuracy", "sem",
                                                     "chance", "pairs"])  # fmt: skip
    write_text(out / "accuracy.md", accuracy_markdown(results, models, test_sets, names, held_out))
    plot_training(_named(args.history, "--history"), chance, args.figure)


def accuracy_markdown(results, models, test_sets, names, held_out) -> str:
    ks = sorted({k for _, _, k in results})
    header = ["model (trained on)"] + [
        f"{t}{' (held out)' if t in held_out else ''} K={k}" for t in test_sets for k in ks
    ]
    lines = ["# COCOLA accuracy (eq. 7.5) at K = " + ", ".join(map(str, ks)), "",
             "Mean accuracy (%) over random batches of K distinct test pairs, ± its standard error;"
             " chance is 100 / K. Every model is scored on the same batches.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
    for model in models:
        cells = []
        for t in test_sets:
            for k in ks:
                r = results.get((model, t, k))
                cells.append(f"{float(r['accuracy']):.1f} ± {float(r['sem']):.1f}" if r else "")
        lines.append("| " + " | ".join([model_label(model, names)] + cells) + " |")
    lines.append("| Chance | " + " | ".join(f"{100 / k:.1f}" for _ in test_sets for k in ks) + " |")
    return "\n".join(lines) + "\n"


def plot_training(histories: list[tuple[str, str]], chance: float, path: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, file in histories:
        rows = _read(file, ("step", "valid_accuracy"), "training history", ("step", "valid_accuracy"))
        steps = [int(r["step"]) for r in rows if r["valid_accuracy"]]
        acc = [100 * float(r["valid_accuracy"]) for r in rows if r["valid_accuracy"]]
        ax.plot(steps, acc, marker="o", markersize=3, label=f"{name} similarity")
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance (K = 2)")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation accuracy, eq. 7.5, K = 2 (%)")
    ax.set_title("COCOLA All: bilinear vs cosine similarity")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
