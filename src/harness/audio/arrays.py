"""The songs of a stem dataset as arrays at a model's rate, and random training crops of them:
what the families that train on stems share (MSDM, LASS on music)."""

from __future__ import annotations

import numpy as np

from harness.audio.dataset import StemDataset
from harness.core.errors import HarnessError


def load_tracks(
    root: str, split: str, sample_rate: int, stems: list[str] | None = None, limit: int | None = None
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """([N, samples] float32 per track, track ids, stems) of one split, resampled."""
    data = StemDataset(root, sample_rate)
    stems = stems or data.stems
    missing = sorted(set(stems) - set(data.stems))
    if missing:
        raise HarnessError(f"{root}: the dataset has no stem {missing[0]!r} (it has {data.stems})")
    ids = data.tracks(split)[:limit] if limit else data.tracks(split)
    if not ids:
        raise HarnessError(f"{root}: no {split} tracks")
    tracks = []
    for track in ids:
        audio = data.load(track, stems)
        tracks.append(np.concatenate([audio[s] for s in stems]).astype(np.float32))
    return tracks, ids, stems


def random_crops(tracks: list[np.ndarray], n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` crops [n, N, length] from random tracks at random offsets."""
    usable = [t for t in tracks if t.shape[-1] >= length]
    if not usable:
        raise HarnessError(f"no track is as long as a training crop ({length} samples)")
    out = np.empty((n, usable[0].shape[0], length), np.float32)
    for i in range(n):
        t = usable[rng.integers(len(usable))]
        start = rng.integers(t.shape[-1] - length + 1)
        out[i] = t[:, start : start + length]
    return out
