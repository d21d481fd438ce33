"""Table 4.3 (accuracy per model and sub-task), per-group accuracies, and Figure 4.2."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from harness.core.figures import pyplot, save_figure

#: Table 4.3's column of each sub-task, and the rows of the two scorers that are no model.
COLUMNS = {
    "plain": "Plain",
    "adversarial": "Adversarial",
    "tricky": "Tricky",
    "name_agnostic": "Agnostic-name",
    "emoji_agnostic": "Agnostic-emoji",
}
BUILTIN = {"solver": "Symbolic solver (upper bound)", "random": "Random"}


def accuracy_table(runs: list[tuple[dict, list[dict]]]) -> list[dict]:
    """Accuracy per model, sub-task and group (and 'all' groups), with the example count."""
    out = []
    for meta, rows in runs:
        cells = defaultdict(list)
        for r in rows:
            for group in (r["group"], "all"):
                cells[(r["subtask"], group)].append(r["correct"])
                cells[("all", group)].append(r["correct"])
        for (subtask, group), values in sorted(cells.items()):
            out.append(
                {
                    "model": meta["id"],
                    "name": meta["name"],
                    "subtask": subtask,
                    "group": group,
                    "accuracy": round(float(np.mean(values)), 4),
                    "examples": len(values) if subtask != "all" or group != "all" else len(rows),
                }
            )
    return out


def table_4_3_rows(acc: list[dict], runs, columns: dict[str, str]) -> list[tuple[str, str, str]]:
    row_of = {meta["id"]: meta["row"] for meta, _ in runs}
    return [
        (row_of[a["model"]], columns[a["subtask"]], f"{100 * a['accuracy']:.1f}%")
        for a in acc
        if a["group"] == "all" and a["subtask"] in columns
    ]


def plot_accuracy_vs_parameters(runs, acc: list[dict], path: str, scale: str) -> None:
    """Figure 4.2: overall accuracy (mean over sub-tasks) against parameter count."""
    plt = pyplot()

    overall = {}
    for a in acc:
        if a["group"] == "all" and a["subtask"] != "all":
            overall.setdefault(a["model"], []).append(a["accuracy"])
    fig, ax = plt.subplots(figsize=(6, 4))
    lines = {"random": ("Random", "--", "grey"), "solver": ("Symbolic solver", ":", "green")}
    for meta, _ in runs:
        score = 100 * float(np.mean(overall[meta["id"]]))
        if meta["id"] in lines:
            label, style, color = lines[meta["id"]]
            ax.axhline(score, linestyle=style, color=color, label=f"{label} ({score:.1f}%)")
        else:
            label = f"{meta['name']} ({score:.1f}%, {meta['examples']} examples)"
            ax.plot(meta["parameters"], score, "o", markersize=8, label=label)
    ax.set_xscale("log")
    ax.set_xlim(1e6, 1e10)
    ax.set_ylim(0, 105)
    ax.set_xlabel("parameters")
    ax.set_ylabel("multiple-choice accuracy, mean over sub-tasks (%)")
    ax.set_title(f"Symbol Interpretation: accuracy vs model size ({scale} scale)")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
