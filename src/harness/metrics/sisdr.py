"""SI-SDR and SI-SDRi, and the MSDM evaluation protocol (thesis ch. 6, the SI-SDR equation before Table 6.2).

    SI-SDR(x, x_hat) = 10 log10( (||alpha x||^2 + eps) / (||alpha x - x_hat||^2 + eps) ),
    alpha = (x^T x_hat + eps) / (||x||^2 + eps),   eps = 1e-8,
    SI-SDRi = SI-SDR(x, x_hat) - SI-SDR(x, y),     y = sum of the sources (the mixture).

The protocol of the MSDM paper, which the thesis follows for Tables 6.2 and 6.5: each test track
is cut into 4 s chunks with a 2 s hop (the last one may be shorter); a chunk is skipped when at
most one source is active in it, a source being silent when ||x||_2 / n_samples < 1.5e-5; the
score of a stem is the mean of its SI-SDRi over the kept chunks of every track.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from harness.core.errors import HarnessError

EPS = 1e-8
SILENCE_THRESHOLD = 1.5e-5  # MSDM's is_silent: ||x||_2 / n_samples below this
CHUNK_SECONDS = 4.0  # MSDM protocol: 4 s chunks
HOP_SECONDS = 2.0  # every 2 s


def si_sdr(estimate, reference, eps: float = EPS) -> torch.Tensor:
    """The thesis's SI-SDR (dB) along the last axis; leading axes broadcast (e.g. channels)."""
    est = torch.as_tensor(estimate)
    ref = torch.as_tensor(reference).to(est.dtype)
    alpha = ((est * ref).sum(-1, keepdim=True) + eps) / ((ref**2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    return 10 * torch.log10(((target**2).sum(-1) + eps) / (((target - est) ** 2).sum(-1) + eps))


def si_sdr_improvement(estimate, reference, mixture, eps: float = EPS) -> torch.Tensor:
    return si_sdr(estimate, reference, eps) - si_sdr(mixture, reference, eps)


def is_silent(audio, threshold: float = SILENCE_THRESHOLD) -> bool:
    """MSDM's silence test on one chunk ``[channels, samples]``: L2 norm over samples below
    ``threshold`` times the number of samples."""
    audio = np.asarray(audio)
    return bool(np.linalg.norm(audio) / audio.shape[-1] < threshold)


def chunk_bounds(n_samples: int, chunk: int, hop: int) -> list[tuple[int, int]]:
    """MSDM's evaluation chunks: ceil((n - overlap) / hop) windows of ``chunk`` samples from 0
    with step ``hop`` (overlap = chunk - hop); the last one is cut at the end of the track."""
    overlap = chunk - hop
    count = max(math.ceil((n_samples - overlap) / hop), 1)
    return [(i * hop, min(i * hop + chunk, n_samples)) for i in range(count)]


def msdm_chunk_scores(
    references: Mapping[str, np.ndarray],
    estimates: Mapping[str, np.ndarray],
    sample_rate: int,
    chunk_seconds: float = CHUNK_SECONDS,
    hop_seconds: float = HOP_SECONDS,
    filter_single_source: bool = True,
    silence_threshold: float = SILENCE_THRESHOLD,
    eps: float = EPS,
) -> list[dict]:
    """SI-SDRi of every stem on every kept chunk of one track: rows ``{start, end, <stem>: dB}``.

    ``references`` and ``estimates`` map stem -> ``[channels, samples]`` of one length; the
    mixture is the sum of the references (the protocol's y)."""
    stems = list(references)
    if set(estimates) != set(stems):
        raise ValueError(f"estimates have stems {sorted(estimates)}, references {sorted(stems)}")
    ref = torch.from_numpy(np.stack([np.asarray(references[s], dtype=np.float64) for s in stems]))
    est = torch.from_numpy(np.stack([np.asarray(estimates[s], dtype=np.float64) for s in stems]))
    if ref.shape != est.shape:
        raise ValueError(f"references {tuple(ref.shape)} and estimates {tuple(est.shape)} differ in shape")
    mixture = ref.sum(0, keepdim=True).expand_as(ref)
    chunk, hop = round(chunk_seconds * sample_rate), round(hop_seconds * sample_rate)
    if chunk < 1 or hop < 1 or hop > chunk:
        raise HarnessError(
            f"chunks of {chunk_seconds} s with a {hop_seconds} s hop at {sample_rate} Hz: "
            "both must be at least one sample, and the hop at most the chunk"
        )
    rows = []
    for start, end in chunk_bounds(ref.shape[-1], chunk, hop):
        active = sum(
            not is_silent(ref[i, :, start:end].numpy(), silence_threshold) for i in range(len(stems))
        )
        if filter_single_source and active <= 1:
            continue
        window = slice(start, end)
        scores = si_sdr_improvement(est[..., window], ref[..., window], mixture[..., window], eps)
        row = {"start": start, "end": end}
        row.update({s: float(scores[i].mean()) for i, s in enumerate(stems)})  # mean over channels
        rows.append(row)
    return rows


def msdm_means(rows: list[dict], stems) -> dict[str, float]:
    """The protocol's score: each stem's mean SI-SDRi over all kept chunks (NaN when none)."""
    return {s: float(np.mean([r[s] for r in rows])) if rows else float("nan") for s in stems}


def msdm_track_scores(
    references: list[np.ndarray], estimates: list[np.ndarray], stems: list[str], ids: list[str],
    sample_rate: int, chunk_seconds: float, hop_seconds: float,
) -> tuple[dict, list[dict]]:  # fmt: skip
    """The MSDM protocol over tracks ([N, samples] references and estimates per track, stems in
    that order): ({stem: mean SI-SDRi, "All": mean over stems, "chunks": n}, per-chunk rows)."""
    rows = []
    for track, ref, est in zip(ids, references, estimates):
        refs = {s: ref[i : i + 1] for i, s in enumerate(stems)}
        ests = {s: est[i : i + 1] for i, s in enumerate(stems)}
        for row in msdm_chunk_scores(refs, ests, sample_rate, chunk_seconds, hop_seconds):
            rows.append({"track": track, **row})
    if not rows:
        raise HarnessError("no test chunk has two active stems: nothing to score")
    summary = {s: float(np.mean([r[s] for r in rows])) for s in stems}
    summary["All"] = float(np.mean([summary[s] for s in stems]))
    summary["chunks"] = len(rows)
    return summary, rows
