"""The songs of a stem dataset as arrays at a model's rate: random training crops, chunks with
active stems, windows of whole songs for batched separation. What the families that work on stems
share (MSDM, GMSDI, LASS on music)."""

from __future__ import annotations

from itertools import combinations

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


def evaluation_tracks(
    root: str, split: str, sample_rate: int, limit: int | None, seconds: float | None
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """(tracks [N, samples], ids, stems) a separator is scored on: the first ``seconds`` of the
    first ``limit`` songs of a split (whole songs, all of them, for None)."""
    tracks, ids, stems = load_tracks(root, split, sample_rate, None, limit)
    if seconds is not None:
        n = round(seconds * sample_rate)
        short = [i for i, t in zip(ids, tracks) if t.shape[-1] < n]
        if short:
            raise HarnessError(f"{split} track {short[0]} is shorter than the evaluated {seconds} s")
        tracks = [t[:, :n] for t in tracks]
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


def active_chunks(
    tracks: list[np.ndarray], length: int, n: int, rng: np.random.Generator, threshold: float = 1.5e-5
) -> np.ndarray:
    """``n`` chunks [n, N, length] with every stem active (MSDM's silence test), drawn without
    replacement from the non-overlapping chunks of the tracks; fewer stems active when the
    dataset has too few such chunks (the most active first)."""
    candidates = []
    for t in tracks:
        for start in range(0, t.shape[-1] - length + 1, length):
            chunk = t[:, start : start + length]
            active = int((np.linalg.norm(chunk, axis=-1) / length >= threshold).sum())
            candidates.append((active, chunk))
    if len(candidates) < n:
        raise HarnessError(f"only {len(candidates)} chunks of {length} samples in the test tracks, {n} asked")
    order = rng.permutation(len(candidates))
    order = sorted(order, key=lambda i: -candidates[i][0])[:n]  # stable: random among equals
    return np.stack([candidates[i][1] for i in order])


def subsets(stems: list[str]) -> list[tuple[str, ...]]:
    """The non-trivial subsets of generated stems (2^N - 2 of them; 14 for 4 stems), smallest first,
    in the order of Table 6.3."""
    return [c for k in range(1, len(stems)) for c in combinations(stems, k)]


def segments_with_sources(
    tracks: list[np.ndarray], length: int, min_active: int, threshold: float = 1.5e-5
) -> list[np.ndarray]:
    """Every non-overlapping chunk [N, length] of the tracks with at least ``min_active`` active stems."""
    out = []
    for t in tracks:
        for start in range(0, t.shape[-1] - length + 1, length):
            chunk = t[:, start : start + length]
            if int((np.linalg.norm(chunk, axis=-1) / length >= threshold).sum()) >= min_active:
                out.append(chunk)
    return out


def windows(tracks: list[np.ndarray], size: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cut each track [N, samples] into consecutive windows of ``size`` (the last zero-padded):
    ([windows, N, size], [(track, start)]) for batched separation of whole songs."""
    batch, where = [], []
    for i, t in enumerate(tracks):
        for start in range(0, t.shape[-1], size):
            w = t[:, start : start + size]
            batch.append(np.pad(w, ((0, 0), (0, size - w.shape[-1]))))
            where.append((i, start))
    return np.stack(batch), where


def unwindow(parts: np.ndarray, where: list[tuple[int, int]], lengths: list[int]) -> list[np.ndarray]:
    """The inverse of ``windows``: per track [N, length]."""
    out = [np.zeros((parts.shape[1], n), parts.dtype) for n in lengths]
    for part, (i, start) in zip(parts, where):
        end = min(start + parts.shape[-1], lengths[i])
        out[i][:, start:end] = part[:, : end - start]
    return out
