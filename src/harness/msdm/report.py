"""Tables 6.1-6.3 (our values, beside the thesis's in ``harness tables build``) and the listening
page ``listen.html`` of MSDM's and GMSDI's examples: every example beside its ground truth,
relative links, no external assets."""

from __future__ import annotations

import csv
import html
import os
from pathlib import Path

import numpy as np

from harness.audio.examples import INDEX
from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.core.inputs import read_json
from harness.tables.ours import write_ours_csv

SUMMARY = {"type": "object", "required": ["stems", "All", "chunks"],
           "properties": {"stems": {"type": "array", "items": {"type": "string"}}, "All": {"type": "number"},
                          "chunks": {"type": "integer", "minimum": 1}}}  # fmt: skip
CITED = "not run (thesis listening test)"


def write_separation_examples(folder: Path, reference: np.ndarray, estimate: np.ndarray, stems: list[str],
                              rate: int, seconds: float) -> None:  # fmt: skip
    """The first ``seconds`` of one test song: the mixture, each stem's estimate and its truth."""
    from harness.audio.examples import write_examples

    n = round(seconds * rate)
    tracks = {"mixture": reference[:, :n].sum(0)}
    for i, s in enumerate(stems):
        tracks[f"{s} (separated)"] = estimate[i, :n]
        tracks[f"{s} (truth)"] = reference[i, :n]
    write_examples(folder, [("song_1", tracks)], rate)


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, _, path = item.partition("=")
        out.append((name, path))
    if not out:
        raise HarnessError(f"no {what} given")
    return out


def _csv(path: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _fmt(x: float) -> str:
    return f"{float(x):.2f}"


def write_report(args) -> None:
    out = Path(args.out_dir)
    # Table 6.2: SI-SDRi per stem and All
    rows, only = [], []
    for name, path in _pairs(args.separation, "--separation"):
        summary = read_json(path, SUMMARY, "separation summary")
        for stem in summary["stems"]:
            rows.append((name, stem.capitalize(), _fmt(summary[stem])))
        rows.append((name, "All", _fmt(summary["All"])))
        if name != "Demucs" and not name.startswith(("Dirac /", "Gaussian /")):
            only.append(name)
    rows.append(("Demucs + Gibbs (512 steps)", "All", "not run (cited)"))
    write_ours_csv(str(out / "table_6_2.csv"), rows, only_ours=only)
    # Table 6.1: FAD of total generation, and the baselines
    baselines = _csv(args.baselines)
    rows = []
    for name, path in _pairs(args.total, "--total"):
        rows += [(name, "FAD", _fmt(r["fad"])) for r in _csv(path)]
        rows += [(name, "Quality", CITED), (name, "Coherence", CITED)]
    extra = [b for b in baselines if b["task"] == "total"]
    rows += [(b["row"], "FAD", _fmt(b["fad"])) for b in extra]
    write_ours_csv(str(out / "table_6_1.csv"), rows, only_ours=[b["row"] for b in extra])
    # Table 6.3: sub-FAD of partial generation, and the Random baseline per subset
    rows = [(f"{r['generated']} | given {r['given']}", "FAD", _fmt(r["fad"])) for r in _csv(args.partial)]
    extra = [b for b in baselines if b["task"] == "partial"]
    rows += [(f"Random: {b['row']}", "FAD", _fmt(b["fad"])) for b in extra]
    write_ours_csv(str(out / "table_6_3.csv"), rows, only_ours=[f"Random: {b['row']}" for b in extra])


def write_listening_page(path: str, folders: list[str]) -> None:
    """One section per example folder, one row per example, an <audio> element per track."""
    base = Path(path).resolve().parent
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>MSDM and GMSDI examples</title>",
             "<style>body{font-family:sans-serif;margin:2em}td{padding:4px 8px;vertical-align:top}"
             "audio{width:220px}</style></head><body><h1>MSDM / ISDM / GMSDI: listening examples</h1>",
             "<p>Embedded scale: small models trained for minutes on a CPU. Each generated or separated"
             " track is shown beside its ground truth where one exists.</p>"]  # fmt: skip
    for folder in folders:
        index = read_json(Path(folder) / "index.json", INDEX, "examples index")
        rel = os.path.relpath(Path(folder).resolve(), base)
        parts.append(f"<h2>{html.escape(Path(folder).name.replace('_', ' '))}</h2><table>")
        for example in index:
            parts.append(f"<tr><th>{html.escape(example['name'].replace('_', ' '))}</th>")
            for f in example["files"]:
                src = html.escape(f"{rel}/{f['file']}")
                parts.append(
                    f"<td>{html.escape(f['label'])}<br><audio controls preload='none' src='{src}'></audio></td>"
                )
            parts.append("</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    write_text(path, "\n".join(parts) + "\n")
