"""Tables 6.4-6.5 (our values, beside the thesis's in ``harness tables build``) and Figures
6.4-6.5 of GMSDI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError
from harness.core.figures import pyplot, save_figure
from harness.core.inputs import read_json
from harness.gmsdi.commands import SUMMARY
from harness.tables.ours import write_ours_csv

MSDM_SUMMARY = {"type": "object", "required": ["stems", "All", "chunks"],
                "properties": {"stems": {"type": "array", "items": {"type": "string"}}, "All": {"type": "number"},
                               "chunks": {"type": "integer", "minimum": 1}}}  # fmt: skip


def _fmt(x: float) -> str:
    return f"{float(x):.2f}"


def _csv(path: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def grid_row(method: dict) -> str:
    if method["kind"] == "extractor":
        return "GMSDI Extractor"
    return f"GMSDI Separator ({method['constrained'].capitalize()})"


def _method_text(method: dict) -> str:
    if method["kind"] == "extractor":
        neg = ", ".join(s.capitalize() for s in method.get("negative", [])) or "none"
        return f"Extractor w = {method['w']:g} (negative prompts for {neg})"
    return f"Separator w = {method['w']:g}, {method['constrained'].capitalize()} constrained"


def table_6_4(paths: list[str], out: Path) -> None:
    rows, chunks = [], set()
    for path in paths:
        summary = read_json(path, SUMMARY, "grid summary")
        rows.append(
            (grid_row(summary["method"]), f"w = {float(summary['method']['w']):.1f}", _fmt(summary["All"]))
        )
        chunks.add(summary["chunks"])
    note = (f"Ours: SI-SDRi (All) on {', '.join(map(str, sorted(chunks)))} validation chunks (the thesis: 100 test "
            "chunks); w as defined in thesis 2.2.2, S* = S(z) + w (S(z) - S(n)).")  # fmt: skip
    write_ours_csv(str(out / "table_6_4.csv"), rows, note=note)


def table_6_5(separator: str, extractor: str, msdm: list[str], out: Path) -> list[str]:
    sep = read_json(separator, SUMMARY, "separation summary")
    ext = read_json(extractor, SUMMARY, "separation summary")
    stems = sep["stems"]
    if ext["stems"] != stems:
        raise HarnessError(f"the separator scored {stems}, the extractor {ext['stems']}")
    rows, only = [], []
    for name, summary in (("GMSDI Separator", sep), ("GMSDI Extractor", ext)):
        rows += [(name, s.capitalize(), _fmt(summary[s])) for s in stems] + [
            (name, "All", _fmt(summary["All"]))
        ]
    best = {s: max(sep[s], ext[s]) for s in stems}  # the thesis's Ensemble: the better separator per stem
    rows += [("Ensemble", s.capitalize(), _fmt(best[s])) for s in stems]
    rows.append(("Ensemble", "All", _fmt(np.mean(list(best.values())))))
    for item in msdm:
        name, _, path = item.partition("=")
        summary = read_json(path, MSDM_SUMMARY, "MSDM separation summary")
        if summary["stems"] != stems or summary["chunks"] != sep["chunks"]:
            raise HarnessError(
                f"{path}: scored on other stems or chunks than GMSDI's ({summary['chunks']} chunks)"
            )
        rows += [(name, s.capitalize(), _fmt(summary[s])) for s in stems] + [
            (name, "All", _fmt(summary["All"]))
        ]
        if name not in ("ISDM", "MSDM"):
            only.append(name)
    rows.append(("Demucs + Gibbs (512 steps)", "All", "not run (cited)"))
    note = (f"Ours on {sep['chunks']} test chunks: {_method_text(sep['method'])}; {_method_text(ext['method'])}; each "
            "chosen on the validation grid of Table 6.4. Ensemble: the better of the two per stem, as the thesis. ISDM "
            "and MSDM: our Dirac separators with correction (Table 6.2), on the same chunks.")  # fmt: skip
    write_ours_csv(str(out / "table_6_5.csv"), rows, only_ours=only, note=note)
    return [f"{r[0]} {r[1]} {r[2]}" for r in rows if r[1] == "All"]


def _grouped_bars(path: str, rows: list[dict], group: str, series: str, labels, ylabel: str, title: str,
                  floor: float | None = None) -> None:  # fmt: skip
    """Bars of ``fad`` per ``group`` (x) and ``series`` (colour), with their values on top."""
    groups = list(dict.fromkeys(r[group] for r in rows))
    kinds = list(dict.fromkeys(r[series] for r in rows))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.6, 4.0))
    width = 0.8 / max(len(kinds), 1)
    for j, kind in enumerate(kinds):
        values = [
            next((float(r["fad"]) for r in rows if r[group] == g and r[series] == kind), np.nan)
            for g in groups
        ]
        bars = ax.bar(np.arange(len(groups)) + (j - (len(kinds) - 1) / 2) * width, values, width, label=kind)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle="--", linewidth=1, label="real training mixtures (floor)")
    ax.set_xticks(np.arange(len(groups)), [labels(g) for g in groups], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def figure_6_4(path: str, stems_csv: str) -> None:
    _grouped_bars(path, _csv(stems_csv), "stem", "model", str.capitalize,
                  "FAD to test chunks of the stem (lower is better)",
                  "Figure 6.4: single-stem prompting (embedded scale)")  # fmt: skip


def figure_6_5(path: str, mixtures_csv: str, baselines_csv: str) -> None:
    floor = [float(b["fad"]) for b in _csv(baselines_csv) if b["task"] == "total"]
    rows = _csv(mixtures_csv)
    best = next((r["model"] for r in rows if r["model"].startswith("MSDM (")), "")
    for r in rows:  # one colour per model: MSDM's partial rows are its best of N
        r["series"] = "GMSDI" if r["model"] == "GMSDI" else f"MSDM{' (partial: ' + best[6:] if best else ''}"
    _grouped_bars(path, rows, "task", "series", lambda t: t if t == "All" else f"{t}\n| given rest",
                  "FAD to real test mixtures (lower is better)",
                  "Figure 6.5: total (All) and partial generation (embedded scale)", floor[0] if floor else None)  # fmt: skip


def write_report(args) -> None:
    from harness.core.logs import LOG

    out = Path(args.out_dir)
    table_6_4(args.grid, out)
    for line in table_6_5(args.separator, args.extractor, args.msdm, out):
        LOG.info("Table 6.5: %s", line)
    figure_6_4(args.figure_6_4, args.stems)
    figure_6_5(args.figure_6_5, args.mixtures, args.baselines)
