"""Tables 6.6-6.8 (our values) from what the CompoNet rules did.

Table 6.8: per set, each method's sub-FAD (``componet generate``) and mean COCOLA score of its
(input, answer) pairs (``cocola score``). Table 6.6: CompoNet's cells are the tasks the DAG
performed with the trained adapter (its task examples); MSDM's and GMSDI's are the tasks their
rules perform (tests/test_msdm.py, tests/test_gmsdi.py run each), ✗ where the method has no such
task. Table 6.7: how each of our models is trained and what it takes and gives, and coherence
where a COCOLA score measures it here (the model's score above Random's)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from harness.componet.tasks import TASKS
from harness.core.errors import HarnessError
from harness.core.inputs import read_json
from harness.tables.ours import write_ours_csv

ROWS = {"componet": "CompoNet", "msdm": "MSDM", "random": "Random", "truth": "Ground Truth",
        "codec": "Ground Truth through the codec"}  # fmt: skip
# not a thesis row: what CompoNet's codec alone (VAE and vocoder, no diffusion) does to the truth
ONLY_OURS = {"codec"}
SUMMARY = {"type": "object", "required": ["pairs", "mean", "sem"],
           "properties": {"pairs": {"type": "integer", "minimum": 1}, "mean": {"type": "number"},
                          "sem": {"type": "number"}, "silent": {"type": "integer", "minimum": 0}}}  # fmt: skip
NOT_TRAINED = "not trained at this scale"
# the thesis's FAD columns by the backbone that fills them; `trained` (the DAG's encoder) has its own
FAD_COLUMNS = {"clap": "FAD CLAP", "encodec": "FAD EnCodec", "vggish": "FAD VGGish",
               "trained": "FAD (the DAG's stem-classifier encoder)"}  # fmt: skip
# what our MSDM and GMSDI rules do (Tables 6.1-6.5): multi-source tasks, no editing
OTHER_TASKS = {"UG": "✓", "AG": "✓(MS)", "SS": "✓(MS)", "EA": "✗", "ER": "✗"}
METHODOLOGY = {
    "MSDM": ("Train / Supervised", "Multi / Source", "Multi / Source"),
    "GMSDI": ("Inf. / Weakly Sup.", "Multi / Sub-mix", "Multi / Sub-mix"),
    "CompoNet": ("Train / Fine-tuning", "Single / Sub-mix", "Single / Sub-mix"),
}


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, _, path = item.partition("=")
        if not Path(path).is_file():
            raise HarnessError(f"{what} {key}: {path} not found")
        out[key] = path
    return out


def _fad(path: str) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"method", "fad", "queries", "encoder"} <= set(rows[0]):
        raise HarnessError(f"{path}: not a `componet generate` sub-FAD table (method, fad, queries, encoder)")
    return {r["method"]: r for r in rows}


def _cocola_cell(score: dict | None) -> str:
    if not score:
        return ""
    cell = f"{score['mean']:.2f} ± {score['sem']:.2f}"
    silent = score.get("silent", 0)
    return cell + (f" ({silent} of {silent + score['pairs']} answers silent)" if silent else "")


def write_report(args) -> None:
    names = json.loads(args.names)
    generation = _pairs(args.generation, "--generation")
    cocola = {
        k: read_json(p, SUMMARY, "COCOLA score summary") for k, p in _pairs(args.cocola, "--cocola").items()
    }
    out = Path(args.out_dir)
    rows, performed, queries, only, bases = [], {}, 0, set(), set()
    for dataset, path in generation.items():
        fad, name = _fad(path), names.get(dataset, dataset)
        first = next(iter(fad.values()))
        backbone, bases = first["encoder"], bases | {first.get("base") or "the embedded base trained here"}
        encoder = FAD_COLUMNS.get(backbone, f"FAD ({backbone})")
        for method, label in ROWS.items():
            row = f"{name} / {label}"
            if method in ONLY_OURS:
                if method not in fad:
                    continue
                only.add(row)
            if method not in fad:
                rows += [(row, encoder, NOT_TRAINED), (row, "COCOLA score", NOT_TRAINED)]
                continue
            queries = int(fad[method]["queries"])
            if method != "truth":
                rows.append((row, encoder, f"{float(fad[method]['fad']):.2f}"))
            score = cocola.get(f"{dataset}/{method}")
            rows.append((row, "COCOLA score", _cocola_cell(score)))
        performed[dataset] = {m: cocola.get(f"{dataset}/{m}") for m in ROWS}
    sets = ", ".join(f"{names.get(d, d)} rows: our {d}" for d in generation)
    fad_with = {"trained": "the DAG's trained stem-classifier encoder (no CLAP, EnCodec or VGGish weights ship "
                "offline)"}.get(backbone, f"the {backbone} backbone")  # fmt: skip
    write_ours_csv(str(out / "table_6_8.csv"), rows, only_ours=only, note=(
        f"{sets}; {queries} queries per set (thesis: 200), each a random input sub-mix Y of a test chunk and a "
        f"random query X from the stems it leaves out. FAD: sub-FAD of the answers against the true sub-mixes, "
        f"with {fad_with}. COCOLA score: mean ± s.e. of eq. 7.4 over the (Y, answer) pairs, with the COCOLA All "
        f"model of Table 7.1; a silent answer is not scored, and the cell says how many were. CompoNet's base: "
        f"{'; '.join(sorted(bases))}. Ground Truth through the codec (ours only): the true X encoded and decoded "
        "by CompoNet's VAE and vocoder, what the codec alone costs."
    ))  # fmt: skip
    _tables_6_6_and_6_7(args, out, performed)


def _tables_6_6_and_6_7(args, out: Path, performed: dict) -> None:
    index = read_json(args.tasks, {"type": "array"}, "task examples index") if args.tasks else []
    done = {item["name"].split("_")[0] for item in index if isinstance(item, dict) and "name" in item}
    rows = [(model, task, OTHER_TASKS[task]) for model in ("MSDM", "GMSDI") for task in TASKS]
    rows += [("CompoNet", task, "✓(MS)" if task in done else "") for task in TASKS]
    write_ours_csv(str(out / "table_6_6.csv"), rows, note=(
        "Ours: CompoNet's cells are the tasks the DAG ran with the trained adapter (its listening examples); "
        "MSDM's and GMSDI's the tasks their rules run (Tables 6.1-6.5). Each is run by a test. "
        "Rows marked (cited) are the thesis's; their code does not run here."
    ))  # fmt: skip
    rows = []
    for model, cells in METHODOLOGY.items():
        rows += [(model, col, value) for col, value in zip(("Methodology", "Input", "Output"), cells)]
        key = {"MSDM": "msdm", "CompoNet": "componet"}.get(model)
        measured = [(s[key]["mean"], s["random"]["mean"]) for s in performed.values()
                    if key and s.get(key) and s.get("random")]  # fmt: skip
        coherent = "" if not measured else ("✓" if all(a > b for a, b in measured) else "✗")
        rows.append((model, "Coherence", coherent))
    write_ours_csv(str(out / "table_6_7.csv"), rows, note=(
        "Ours: how each of our models is trained and run; Coherence ✓ where its COCOLA score is above the Random "
        "baseline's on every set of Table 6.8 (empty: not measured here)."
    ))  # fmt: skip
