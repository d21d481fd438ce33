"""Odeen results for the tables registry (row, column, ours) and the chapter's figures."""

from __future__ import annotations

import os

import numpy as np

from harness.core.errors import HarnessError
from harness.core.figures import pyplot, save_figure
from harness.core.inputs import COUNT
from harness.core.inputs import read_json as read_json_checked

STRUCTS = {100: "100 struct.", 1000: "1K struct.", 10000: "10K struct."}


_RATE = {"type": "number", "minimum": 0, "maximum": 1}
_RATES = {"type": "array", "minItems": 1, "items": _RATE}
_STEPS = {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}}
_SCORES = {
    "type": "object",
    "required": ["nrs", "t_acc"],
    "properties": {"nrs": _RATE, "t_acc": _RATE, "r_acc": _RATE},
}
# what `harness odeen evaluate` writes: a CRN's scores, or an empiricist's (top-level nrs, t_acc)
EVALUATION_SCHEMA = {
    "type": "object",
    "required": ["exactly_two", "test_games"],
    "properties": {
        "test_games": {"type": "integer", "minimum": 1},
        "exactly_two": {"type": "object", "required": ["n_rules"], "properties": {"n_rules": COUNT},
                        "additionalProperties": _RATE},
        "crn": _SCORES,
        "crn_hardcoded": _SCORES,
        "interpreter_true_rule": {"type": "object", "required": ["t_acc"], "properties": {"t_acc": _RATE}},
        "crn_strict": {"type": "object", "required": ["games", "discovered", "wrong", "unknown"],
                       "additionalProperties": COUNT},
        "baselines": {"type": "object", "required": ["majority_label", "random"],
                      "additionalProperties": _SCORES},
        "curve": {"type": "object", "required": ["t", "found_within_t", "crn_r_acc_at_t", "brute_force_t", "brute_force"],
                  "properties": {"t": _STEPS, "brute_force_t": _STEPS, "found_within_t": _RATES,
                                 "crn_r_acc_at_t": _RATES, "brute_force": _RATES}},
        "nrs": _RATE, "t_acc": _RATE, "r_acc": _RATE,
    },
    "oneOf": [
        {"required": ["crn", "crn_hardcoded", "interpreter_true_rule", "crn_strict", "curve", "baselines"]},
        {"required": ["nrs", "t_acc"]},
    ],
}  # fmt: skip


def read_json(path: str, model: str = "") -> dict:
    """An evaluation written by `harness odeen evaluate`; ``model`` (crn, emp_c, emp_r), when
    given, is the model it must be of."""
    result = read_json_checked(path, EVALUATION_SCHEMA, "evaluation file")
    is_crn = "crn" in result
    if model and is_crn != (model == "crn"):
        raise HarnessError(
            f"evaluation file {path} is {'a CRN' if is_crn else 'an empiricist'}'s, expected {model}'s"
        )
    key = model or ("crn" if is_crn else "")
    if key and key not in result["exactly_two"]:
        raise HarnessError(f"evaluation file {path}: exactly_two lacks {key!r}")
    curve = result.get("curve")
    if curve and not (len(curve["t"]) == len(curve["found_within_t"]) == len(curve["crn_r_acc_at_t"])
                      and len(curve["brute_force_t"]) == len(curve["brute_force"])):  # fmt: skip
        raise HarnessError(f"evaluation file {path}: curve lists differ in length")
    return result


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


BASELINES = {"majority_label": "Majority label (baseline)", "random": "Random labels (baseline)"}


def nrs_margin(a: dict, b: dict, n: int) -> tuple[float, float]:
    """NRS(a) - NRS(b) on n test games and the standard error of that difference (two
    independent proportions: the pairing of games would only shrink it)."""
    pa, pb = a["nrs"], b["nrs"]
    return pa - pb, float(np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n))


def table_3_1(crn: dict, emp_c: dict, emp_r: dict) -> tuple[list[tuple[str, str, str]], str]:
    """Rows (row, column, ours): the three models, then the baselines (rows of ours only,
    ``BASELINES``); and a note with the test games and the CRN's NRS margin over each empiricist."""
    n = crn["test_games"]
    margins, holds = [], True
    for name, res in (("Emp-C", emp_c), ("Emp-R", emp_r)):
        d, se = nrs_margin(crn["crn"], res, n)
        margins.append(f"CRN - {name} = {100 * d:+.1f} ± {100 * se:.1f} pp ({d / se if se else 0:+.1f} SE)")
        holds = holds and d > 2 * se
    rows = []
    scored = [("CRN", crn["crn"]), ("Emp-C", emp_c), ("Emp-R", emp_r)]
    scored += [(label, crn["baselines"][key]) for key, label in BASELINES.items()]
    for name, res in scored:
        rows += [(name, "NRS", pct(res["nrs"])), (name, "T-Accuracy", pct(res["t_acc"]))]
        rows.append((name, "R-Accuracy", pct(res["r_acc"]) if "r_acc" in res else "-"))
    claim = "holds beyond 2 SE" if holds else "is not shown beyond 2 SE"
    interpreter = crn["interpreter_true_rule"]["t_acc"]
    return rows, (
        f"{n} test games; NRS " + "; ".join(margins)
        + f". The thesis's claim (the CRN's NRS above both empiricists') {claim}"
        + f". The learned interpreter given the true rule: T-Acc {pct(interpreter)}"
    )  # fmt: skip


def table_3_2(crn_by_regime: dict[tuple[int, int], dict]) -> list[tuple[str, str, str]]:
    """A row per regime, then the majority-label baseline (the same test games in every regime):
    the tag accuracy a learned interpreter must beat to show it reads the rule."""
    rows = []
    for (n, m), res in sorted(crn_by_regime.items(), key=lambda kv: (-kv[0][0], -kv[0][1])):
        row = f"{STRUCTS.get(m, f'{m} struct.')} / {n} rules"
        rows += [
            (row, "NRS fully-learned CRN", f"{res['crn']['nrs']:.3f}"),
            (row, "NRS hardcoded-I CRN", f"{res['crn_hardcoded']['nrs']:.3f}"),
            (row, "T-Acc. learned I", f"{res['interpreter_true_rule']['t_acc']:.3f}"),
        ]
    majority = next(iter(crn_by_regime.values()))["baselines"]["majority_label"]
    label = BASELINES["majority_label"]
    rows += [
        (label, "NRS fully-learned CRN", f"{majority['nrs']:.3f}"),
        (label, "T-Acc. learned I", f"{majority['t_acc']:.3f}"),
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
