"""Table builder: thesis values beside ours, as long-form CSV, Markdown and LaTeX, plus the
results index (results/README.md) that tells at a glance what is reproduced."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.tables.registry import Entry, get_entry, load_registry

CSV_COLUMNS = ("row", "column", "thesis", "ours", "scale")


def read_ours(
    path: str, only_ours: set | None = None, notes: list | None = None
) -> dict[tuple[str, str], str]:
    """Our values: a CSV with columns row, column, ours and optionally only_ours (1: a row the
    thesis does not have, added on purpose; the marked rows are added to ``only_ours``) and
    note (what a reader must know of our values, e.g. which dataset stands for which; each
    distinct note is appended to ``notes``)."""
    if not os.path.exists(path):
        raise HarnessError(f"results file {path} does not exist")
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"row", "column", "ours"} - set(reader.fieldnames or ())
        if missing:
            raise HarnessError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        ours = {}
        for line, r in enumerate(reader, 2):
            if None in r or None in r.values():
                raise HarnessError(f"{path} line {line}: not one field per column")
            if (r["row"], r["column"]) in ours:
                raise HarnessError(
                    f"{path} line {line}: cell ({r['row'][:60]!r}, {r['column'][:60]!r}) given twice"
                )
            ours[(r["row"], r["column"])] = r["ours"]
            if r.get("only_ours") == "1" and only_ours is not None:
                only_ours.add(r["row"])
            if r.get("note") and notes is not None and r["note"] not in notes:
                notes.append(r["note"])
        return ours


def long_rows(entry: Entry, ours: dict[tuple[str, str], str], scale: str, only_ours=()) -> list[dict]:
    """Every cell of the thesis table, then the cells only we report (e.g. a substitute model,
    a row marked ``only_ours``). A row or column the table lacks, unmarked, is refused."""
    thesis = {(r, c): v for r, c, v in entry.values}
    rows, columns = set(entry.rows()), entry.columns()
    for r, c in ours:
        if c not in columns and not entry.config_columns:
            raise HarnessError(
                f"{entry.id}: {c[:60]!r} is not a column of the table (it has {', '.join(columns)})"
            )
        if r not in rows and r not in only_ours and not entry.config_rows:
            raise HarnessError(
                f"{entry.id}: {r[:60]!r} is not a row of the table; a row only we report must be "
                "marked only_ours by the step that writes it"
            )
    cells = list(thesis) + [k for k in ours if k not in thesis]
    return [
        {
            "row": r,
            "column": c,
            "thesis": thesis.get((r, c), ""),
            "ours": ours.get((r, c), ""),
            "scale": scale,
        }
        for r, c in cells
    ]


def _status(rows: list[dict]) -> str:
    return "regenerated" if any(r["ours"] for r in rows) else "pending"


def _wide(rows: list[dict]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Column names, and each row name with its cells [thesis, ours, thesis, ours, ...]."""
    row_names = list(dict.fromkeys(r["row"] for r in rows))
    col_names = list(dict.fromkeys(r["column"] for r in rows))
    cell = {(r["row"], r["column"]): r for r in rows}
    wide = []
    for name in row_names:
        values = []
        for col in col_names:
            item = cell.get((name, col), {})
            values += [item.get("thesis", ""), item.get("ours", "")]
        wide.append((name, values))
    return col_names, wide


def to_markdown(entry: Entry, rows: list[dict], scale: str, notes=()) -> str:
    col_names, wide = _wide(rows)
    status = _status(rows)
    header = ["", *[f"{c} ({who})" for c in col_names for who in ("thesis", "ours")]]
    lines = [
        f"# {entry.title}",
        "",
        entry.caption,
        "",
        f"Scale of our values: **{scale}**. Status: **{status}**. Thesis values are transcribed from "
        "the thesis text; an empty *ours* cell has not been regenerated.",
        "",
        *[line for note in notes for line in (f"Note: {note}", "")],
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name, values in wide:
        cells = [v.replace("|", "\\|").replace("\n", " ") for v in (name, *values)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "|": r"$|$",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(entry: Entry, rows: list[dict], scale: str) -> str:
    col_names, wide = _wide(rows)
    spec = "l" + "rr" * len(col_names)
    top = " & ".join([""] + [rf"\multicolumn{{2}}{{c}}{{{tex_escape(c)}}}" for c in col_names])
    sub = " & ".join([""] + ["thesis & ours"] * len(col_names))
    body = [" & ".join(map(tex_escape, [name, *values])) + r" \\" for name, values in wide]
    label = entry.id.replace("_", ":", 1)
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{tex_escape(entry.caption)} Ours at the {scale} scale.}}",
            rf"\label{{{label}}}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            top + r" \\",
            sub + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def build_table(
    entry_id: str, out_dir: str, scale: str, ours: str | None = None, figures_dir: str | None = None
) -> list[dict]:
    entry = get_entry(entry_id)
    if entry.kind != "table":
        raise HarnessError(f"{entry_id} is a figure: its family's rule draws it into {figures_dir}")
    only_ours: set[str] = set()
    notes: list[str] = []
    rows = long_rows(entry, read_ours(ours, only_ours, notes) if ours else {}, scale, only_ours)
    out = Path(out_dir)
    write_text(out / f"{entry_id}.csv", to_csv(rows))
    write_text(out / f"{entry_id}.md", to_markdown(entry, rows, scale, notes))
    write_text(out / f"{entry_id}.tex", to_latex(entry, rows, scale))
    LOG.info("%s: %d cells, %d ours", entry_id, len(rows), sum(bool(r["ours"]) for r in rows))
    return rows


def table_status(csv_path: Path) -> tuple[str, str]:
    """(status, scale) of a built table file; missing file -> not built."""
    if not csv_path.exists():
        return "not built", ""
    with open(csv_path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    scale = rows[0]["scale"] if rows else ""
    return _status(rows), scale


def write_index(out: str, tables_dir: str, figures_dir: str) -> str:
    base = Path(out).parent
    lines = [
        "# Results",
        "",
        "Every table and figure of the thesis that this pipeline regenerates, with its status.",
        "Tables hold the thesis value beside ours (`results/tables/<id>.{md,csv,tex}`); figures are",
        "`results/figures/<id>.png`. *pending* means the family that computes it has not landed",
        "yet: its thesis values are transcribed, our column is empty. Built by `snakemake` (rule",
        "`table` for tables, `results_index` for this page) or `dvc repro`.",
        "",
        "Beside the thesis results: `audio/` describes the audio datasets of chapters 5-7",
        "(statistics per split, the Average separation baseline scored by the metric code, FAD",
        "between real train and test stems, a figure of one test track per dataset), and",
        "`benchmarks/` the speed measurements of the repository's benchmark scripts. `lass/` holds",
        "the LASS training curves, per-mixture PSNR of each sampler, timing and likelihood statistics.",
        "`msdm/` holds the MSDM / ISDM / mixture-model and supervised training curves, the SI-SDRi of",
        "every separator per chunk, the sub-FADs of total and partial generation with their baselines,",
        "and a listening page of generated and separated examples beside the ground truth",
        "([msdm/listen.html](msdm/listen.html), GMSDI's examples included). `gmsdi/` holds the GMSDI",
        "training curves, the SI-SDRi of every cell of the w grid and of both separators per chunk,",
        "the FAD of single-stem prompting and of total and partial generation, and the prompt adherence",
        "of the self-conditioned (MTG-Jamendo stand-in) model. `cocola/` holds the split file of every dataset (its",
        "tracks per split and the evaluation pairs, so the numbers can be rebuilt), the training curves,",
        "the accuracy of every model and baseline at K = 2, 4 and 8 ([cocola/accuracy.md](cocola/accuracy.md)).",
        "",
        "| id | status | scale | made by | caption |",
        "|---|---|---|---|---|",
    ]
    for entry in load_registry().values():
        if entry.kind == "table":
            path = Path(tables_dir) / f"{entry.id}.md"
            status, scale = table_status(Path(tables_dir) / f"{entry.id}.csv")
            made_by = f"rule `table`: `harness tables build --id {entry.id}`"
        else:
            path = Path(figures_dir) / f"{entry.id}.png"
            status, scale = ("regenerated", "") if path.exists() else ("pending", "")
            made_by = f"the `{entry.family}` family's figure rule"
        link = os.path.relpath(path, base) if path.exists() else ""
        name = f"[{entry.title}]({link})" if link else entry.title
        lines.append(f"| {name} | {status} | {scale} | {made_by} | {entry.caption} |")
    figures = [e for e in load_registry().values() if e.kind == "figure"]
    lines += ["", "## What the thesis text says of each figure", ""]
    for entry in figures:
        claims = "; ".join(f"{r}: {v}" for r, _, v in entry.values)
        lines.append(f"- **{entry.title}**: {claims}")
    text = "\n".join(lines) + "\n"
    write_text(out, text)
    return text
