"""Scoring one separated track: directories of ``<stem>.wav`` files, as researchers have them.

``score_directories(ref_dir, est_dir)`` is what ``harness metrics separation`` prints and what the
tables use: per stem, bss_eval v4 SDR (median over 1 s frames) and the thesis's SI-SDR over the
whole file (mean over channels)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError
from harness.io.wav import read_stems
from harness.metrics.sdr import sdr
from harness.metrics.sisdr import msdm_chunk_scores, si_sdr


def load_pair(ref_dir: str | Path, est_dir: str | Path) -> tuple[dict, dict, int]:
    """References and estimates of one track, checked to have the same stems, rate and length."""
    ref_names = sorted(p.stem for p in Path(ref_dir).glob("*.wav")) if Path(ref_dir).is_dir() else []
    est_names = sorted(p.stem for p in Path(est_dir).glob("*.wav")) if Path(est_dir).is_dir() else []
    if not ref_names:
        raise HarnessError(f"{ref_dir}: no reference .wav files")
    if ref_names != est_names:
        missing, extra = sorted(set(ref_names) - set(est_names)), sorted(set(est_names) - set(ref_names))
        raise HarnessError(
            f"{est_dir}: stems do not match the references (missing {missing}, unexpected {extra})"
        )
    refs, sr = read_stems(ref_dir, ref_names)
    ests, _ = read_stems(est_dir, ref_names, sample_rate=sr)  # at the references' rate
    r, e = next(iter(refs.values())), next(iter(ests.values()))
    if r.shape != e.shape:
        raise HarnessError(
            f"{est_dir}: estimates are {e.shape[0]} ch x {e.shape[1]} samples, references {r.shape[0]} ch x {r.shape[1]}"
        )
    return refs, ests, sr


def _finite(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def score_directories(ref_dir, est_dir, backend: str = "fast") -> dict[str, dict[str, float | None]]:
    refs, ests, sr = load_pair(ref_dir, est_dir)
    stems = list(refs)
    sdrs = sdr(np.stack([refs[s] for s in stems]), np.stack([ests[s] for s in stems]), sr, backend=backend)
    return {
        s: {
            "sdr": _finite(sdrs[i]),
            "si_sdr": _finite(float(si_sdr(ests[s].astype(np.float64), refs[s]).mean())),
        }
        for i, s in enumerate(stems)
    }


def track_dirs(root: str | Path) -> list[Path]:
    """``root`` itself when it holds .wav files, else its sub-directories (one per track)."""
    root = Path(root)
    if not root.is_dir():
        raise HarnessError(f"{root}: no such directory")
    if any(root.glob("*.wav")):
        return [root]
    tracks = sorted(p for p in root.iterdir() if p.is_dir())
    if not tracks:
        raise HarnessError(f"{root}: neither .wav files nor track directories")
    return tracks


def msdm_directories(ref_root, est_root, **protocol) -> tuple[dict, list[dict]]:
    """The MSDM protocol over tracks: ``({stem: mean SI-SDRi, "chunks": n}, rows)``."""
    rows = []
    for ref in track_dirs(ref_root):
        est = Path(est_root) / ref.name if ref != Path(ref_root) else Path(est_root)
        refs, ests, sr = load_pair(ref, est)
        rows += [dict(track=ref.name, **r) for r in msdm_chunk_scores(refs, ests, sr, **protocol)]
    stems = list(refs)
    summary = {s: _finite(np.mean([r[s] for r in rows])) if rows else None for s in stems}
    summary["chunks"] = len(rows)
    return summary, rows
