"""Odeen results for the tables registry (row, column, ours) and the chapter's figures."""

from __future__ import annotations

import json
import os

import numpy as np

from harness.core.errors import HarnessError
from harness.core.figures import pyplot, save_figure

STRUCTS = {100: "100 struct.", 1000: "1K struct.", 10000: "10K struct."}


def read_json(path: str) -> dict:
    if not os.path.exists(path):
        raise HarnessError(f"evaluation file {path} does not exist")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def regime_of(path: str) -> tuple[int, int]:
    """(n rules, m structures) from a file name ending in ``_<n>x<m>.json``."""
    stem = os.path.basename(path).rsplit(".", 1)[0].rsplit("_", 1)[-1]
    try:
        n, m = (int(x) for x in stem.split("x"))
    except ValueError:
        raise HarnessError(f"{path}: name must end in _<rules>x<structures>.json") from None
    return n, m


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table_3_1(crn: dict, emp_c: dict, emp_r: dict) -> list[tuple[str, str, str]]:
    rows = []
    for name, res in (("CRN", crn["crn"]), ("Emp-C", emp_c), ("Emp-R", emp_r)):
        rows += [(name, "NRS", pct(res["nrs"])), (name, "T-Accuracy", pct(res["t_acc"]))]
        rows.append((name, "R-Accuracy", pct(res["r_acc"]) if "r_acc" in res else "-"))
    return rows


def table_3_2(crn_by_regime: dict[tuple[int, int], dict]) -> list[tuple[str, str, str]]:
    rows = []
    for (n, m), res in sorted(crn_by_regime.items(), key=lambda kv: (-kv[0][0], -kv[0][1])):
        row = f"{STRUCTS.get(m, f'{m} struct.')} / {n} rules"
        rows += [
            (row, "NRS fully-learned CRN", f"{res['crn']['nrs']:.3f}"),
            (row, "NRS hardcoded-I CRN", f"{res['crn_hardcoded']['nrs']:.3f}"),
            (row, "T-Acc. learned I", f"{res['interpreter_true_rule']['t_acc']:.3f}"),
        ]
    return rows


def exactly_two_rows(crn: dict, emp_c: dict, emp_r: dict) -> list[tuple[str, str, str]]:
    n = crn["exactly_two"]["n_rules"]
    rows = [("test rules with 'exactly 2'", "count", str(n))]
    for name, res, key in (("CRN", crn, "crn"), ("Emp-C", emp_c, "emp_c"), ("Emp-R", emp_r, "emp_r")):
        rows.append((name, "NRS on 'exactly 2' test rules", pct(res["exactly_two"][key])))
    return rows


def strict_rows(crn: dict) -> list[tuple[str, str, str]]:
    s = crn["crn_strict"]
    return [
        ("strict CRN", "test games", str(s["games"])),
        (
            "strict CRN",
            "correct explanation",
            f"{s['discovered']} ({pct(s['discovered'] / max(s['games'], 1))})",
        ),
        ("strict CRN", "unknown", str(s["unknown"])),
        ("strict CRN", "wrong explanation", str(s["wrong"])),
    ]


def plot_thinking_time(crn: dict, path: str, scale: str) -> None:
    """Figure 3.6: cumulative R-Acc against the number t of conjectures, and brute force."""
    plt = pyplot()

    c = crn["curve"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(c["t"], np.array(c["found_within_t"]) * 100, label="true rule among the first t conjectures")
    ax.plot(c["t"], np.array(c["crn_r_acc_at_t"]) * 100, label="CRN R-Acc with t conjectures")
    ax.plot(
        c["brute_force_t"],
        np.array(c["brute_force"]) * 100,
        "--",
        color="grey",
        label="brute force (random order)",
    )
    # what the thesis text states of its curve: > 60% within 50 conjectures, > 80% within 300
    ax.plot([50, 300], [60, 80], "^", color="black", label="thesis: lower bounds stated in its text")
    ax.set_xscale("log")
    ax.set_xlim(1, 24794)
    ax.set_ylim(0, 100)
    ax.set_xlabel("t (conjectures checked)")
    ax.set_ylabel("cumulative R-Acc (%)")
    ax.set_title(f"Adjustable thinking time ({scale} scale, {crn['crn_strict']['games']} test games)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_exactly_two(rows: list[tuple[str, str, str]], path: str, scale: str) -> None:
    plt = pyplot()

    thesis = {"CRN": 40.0, "Emp-C": 4.0, "Emp-R": 0.0}
    ours = {r: float(v.rstrip("%")) for r, c, v in rows if c.startswith("NRS")}
    n = rows[0][2]
    x = np.arange(len(thesis))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bars = ax.bar(x - 0.2, list(thesis.values()), 0.4, label="thesis (72 rules)", color="#bbbbbb")
    ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    bars = ax.bar(
        x + 0.2, [ours[k] for k in thesis], 0.4, label=f"ours, {scale} ({n} rules)", color="#4c72b0"
    )
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.set_xticks(x, list(thesis))
    ax.set_ylabel("NRS on 'exactly 2' test rules (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Generalisation to the unseen bigram 'exactly 2'")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
