"""The COCOLA score (eq. 7.4) of conditioning / accompaniment pairs: sim(f(y), f(x~)).

Pairs are WAV files of the same name in two folders. Each pair is cut into the windows the model
was trained on (non-overlapping; a shorter remainder is dropped) and its score is the mean over
its windows of sim(h_y, h_x~). All windows of all pairs are embedded in batches. A pair whose
files differ in rate or length, is shorter than one window, or is silent stops the step with
one line: a score of silence would look like a (low) score of music. Scoring a model's answers,
``--silent-answers skip`` instead leaves a silent accompaniment unscored and counts it (the CSV
marks it, the summary gives ``silent``), so a model that answers silence is seen to.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from harness.cocola.evaluate import embed
from harness.cocola.model import load_model
from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.rows import write_rows_csv
from harness.io.wav import read_wav, resample, to_mono

SILENT_DB = -80.0  # RMS (dBFS) under which a file counts as silence


def _pairs(conditioning: Path, accompaniment: Path) -> list[str]:
    names = sorted(p.name for p in conditioning.glob("*.wav"))
    other = sorted(p.name for p in accompaniment.glob("*.wav"))
    if not names:
        raise HarnessError(f"{conditioning}: no .wav files")
    missing = sorted(set(names) ^ set(other))
    if missing:
        side = accompaniment if missing[0] in names else conditioning
        raise HarnessError(f"{side} lacks {missing[0]} (pairs are files of the same name in both folders)")
    return names


def _clip(path: Path, rate: int, allow_resample: bool) -> tuple[np.ndarray, int]:
    audio, sr = read_wav(path)
    if sr != rate and not allow_resample:
        raise HarnessError(f"{path}: {sr} Hz, the model takes {rate} Hz (--resample converts it)")
    mono = to_mono(audio)[0]
    return (resample(mono[None], sr, rate)[0] if sr != rate else mono), sr


def _silent(audio: np.ndarray) -> bool:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-20)) < SILENT_DB


def load_pair(
    y_path: Path, x_path: Path, rate: int, window: int, allow_resample: bool, skip_silent: bool = False
):
    """[windows, L] conditioning and accompaniment, or None for a silent accompaniment when
    ``skip_silent``."""
    y, y_rate = _clip(y_path, rate, allow_resample)
    x, x_rate = _clip(x_path, rate, allow_resample)
    if y_rate != x_rate:
        raise HarnessError(f"{y_path.name}: the conditioning is {y_rate} Hz, the accompaniment {x_rate} Hz")
    if len(y) != len(x):
        raise HarnessError(f"{y_path.name}: the two files differ in length ({len(y)} vs {len(x)} samples)")
    if len(y) < window:
        raise HarnessError(
            f"{y_path.name}: {len(y) / rate:.2f} s, shorter than the model's {window / rate:.2f} s window"
        )
    for path, audio in ((y_path, y), (x_path, x)):
        if _silent(audio):
            if skip_silent and path == x_path:
                return None
            raise HarnessError(f"{path}: silent (RMS below {SILENT_DB:.0f} dBFS): nothing to score")
    n = len(y) // window
    return y[: n * window].reshape(n, window), x[: n * window].reshape(n, window)


def score_pairs(
    model, pairs: list[tuple[np.ndarray, np.ndarray]], device: str, batch: int = 32
) -> list[float]:
    """The score of each pair ([windows, L] conditioning, [windows, L] accompaniment): eq. 7.4
    averaged over its windows, every window of every pair embedded in batches of ``batch``."""
    counts = [len(y) for y, _ in pairs]
    ys = [w for y, _ in pairs for w in y]
    xs = [w for _, x in pairs for w in x]
    model.eval()
    h_y, h_x = embed(model, ys, device, batch), embed(model, xs, device, batch)
    with torch.no_grad():
        per_window = model.paired_similarity(h_y, h_x)
    per_window = per_window.cpu().numpy()
    bounds = np.cumsum([0] + counts)
    return [float(per_window[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])]


def score_folders(args, device: str) -> None:
    model = load_model(args.checkpoint).to(device)
    rate, window = model.features.sample_rate, model.window
    cond, acc = Path(args.conditioning), Path(args.accompaniment)
    names = _pairs(cond, acc)
    skip = args.silent_answers == "skip"
    loaded = [load_pair(cond / n, acc / n, rate, window, args.resample, skip) for n in names]
    pairs = [p for p in loaded if p is not None]
    if not pairs:
        raise HarnessError(f"{acc}: every accompaniment is silent: nothing to score")
    scored = score_pairs(model, pairs, device, args.batch)
    each = iter(scored)
    rows = [{"pair": n, "windows": 0, "score": "", "silent": True} if p is None
            else {"pair": n, "windows": len(p[0]), "score": round(next(each), 4), "silent": False}
            for n, p in zip(names, loaded)]  # fmt: skip
    write_rows_csv(args.csv, rows)
    mean = float(np.mean(scored))
    sem = float(np.std(scored, ddof=1) / np.sqrt(len(scored))) if len(scored) > 1 else 0.0
    silent = len(rows) - len(scored)
    if args.summary:
        summary = {"pairs": len(scored), "silent": silent, "mean": round(mean, 4), "sem": round(sem, 4),
                   "checkpoint": str(args.checkpoint)}  # fmt: skip
        write_text(args.summary, json.dumps(summary, indent=1) + "\n")
    LOG.info(
        "COCOLA score of %d pairs: %.3f +- %.3f (%d silent answers not scored)",
        len(scored),
        mean,
        sem,
        silent,
    )
