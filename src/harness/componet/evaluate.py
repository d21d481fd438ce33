"""Table 6.8's protocol (thesis 6.5.2): test chunks, each with a random input subset Y of its
sounding stems and a query X from the complement; the answer m_X of CompoNet, of MSDM (partial
generation, the candidate with the largest L2 norm), of Random (the same stems' sub-mix in a chunk
of another test track) and the ground truth. Each method's answers are scored by sub-FAD against
the true sub-mixes and written as WAV pairs (input, answer) for the COCOLA score of eq. 7.4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.audio.arrays import segments_with_sources
from harness.componet.tasks import submix
from harness.core.errors import HarnessError
from harness.core.logs import progress

METHODS = ("componet", "msdm", "random", "truth")


@dataclass(frozen=True)
class Query:
    track: int  # index of the test track the chunk comes from
    chunk: np.ndarray  # [N, samples]
    y: tuple[str, ...]  # input stems
    x: tuple[str, ...]  # queried stems, none of Y


def queries(
    tracks: list[np.ndarray], stems: list[str], n: int, length: int, rng: np.random.Generator
) -> list[Query]:
    """``n`` queries over chunks of ``length`` with at least two sounding stems: Y a random
    non-empty subset of them that leaves one out, X a random non-empty subset of the others."""
    chunks = []
    for i, t in enumerate(tracks):
        chunks += [(i, c) for c in segments_with_sources([t], length, 2)]
    if len(chunks) < 2:
        raise HarnessError(f"fewer than two test chunks of {length} samples have two stems sounding")
    out = []
    for k in rng.choice(len(chunks), size=n, replace=n > len(chunks)):
        track, chunk = chunks[k]
        on = [s for s, a in zip(stems, np.linalg.norm(chunk, axis=-1) / length >= 1.5e-5) if a]
        order = rng.permutation(len(on))
        cut = int(rng.integers(1, len(on)))  # Y takes 1 .. |on| - 1 of them
        y = tuple(s for s in stems if s in {on[j] for j in order[:cut]})
        rest = [s for s in on if s not in y]
        x = tuple(s for s in rest if rng.random() < 0.5) or (rest[int(rng.integers(len(rest)))],)
        out.append(Query(int(track), chunk, y, tuple(s for s in stems if s in x)))
    return out


def random_answers(
    qs: list[Query], tracks: list[np.ndarray], stems: list[str], length: int, rng: np.random.Generator
) -> np.ndarray:
    """Random: for each query, the sub-mix of its X stems in a random chunk of another test track
    where they all sound (where none does, as in a tiny test set: where their sub-mix sounds, then
    another chunk of the same track)."""
    pool = [
        (i, t[:, s : s + length])
        for i, t in enumerate(tracks)
        for s in range(0, t.shape[-1] - length + 1, length)
    ]
    out = []
    for q in qs:
        other_tracks = [c for i, c in pool if i != q.track]
        tiers = (
            [c for c in other_tracks if all(_sounds(c[stems.index(s)]) for s in q.x)],
            [c for c in other_tracks if _sounds(submix(c, stems, q.x))],
            [
                c
                for i, c in pool
                if i == q.track and _sounds(submix(c, stems, q.x)) and not np.array_equal(c, q.chunk)
            ],
        )
        found = next((tier for tier in tiers if tier), None)
        if found is None:
            raise HarnessError(f"Random: no other test chunk where {', '.join(q.x)} sound")
        out.append(submix(found[int(rng.integers(len(found)))], stems, q.x))
    return np.stack(out)


def _sounds(audio: np.ndarray) -> bool:
    """MSDM's silence test: ||x|| / samples of at least 1.5e-5."""
    return float(np.linalg.norm(audio)) / audio.shape[-1] >= 1.5e-5


def componet_answers(model, qs: list[Query], guidance: float, seed: int, batch: int = 8) -> np.ndarray:
    """CompoNet's m_X for every query, queries of the same (Y, X) sampled in one batch."""
    out = [None] * len(qs)
    groups: dict = {}
    for i, q in enumerate(qs):
        groups.setdefault((q.y, q.x), []).append(i)
    for k, ((y, x), idx) in enumerate(progress(sorted(groups.items()), desc="componet")):
        for start in range(0, len(idx), batch):
            part = idx[start : start + batch]
            inputs = np.stack([submix(qs[i].chunk, model.stems, y) for i in part])
            generator = torch.Generator().manual_seed(seed + 1000 * k + start)
            for i, answer in zip(part, model.perform(inputs, y, x, guidance, generator)):
                out[i] = answer
    return np.stack(out)


def msdm_answers(
    denoise, sigmas, qs: list[Query], stems: list[str], candidates: int, seed: int,
    rate: int | None = None, msdm_rate: int | None = None,
) -> np.ndarray:  # fmt: skip
    """MSDM's partial generation of the X stems given the Y stems (eq. 6.2); of ``candidates``
    samples the one whose m_X has the largest L2 norm (MSDM tends to generate silence). A model
    at another rate than the queries (thesis scale: MSDM at 22,050 Hz, AudioLDM2 at 16 kHz) hears
    the chunks resampled to ``msdm_rate`` and its answers come back at ``rate``."""
    from harness.diffusion.samplers import generate_partial
    from harness.io.wav import resample

    other = rate is not None and msdm_rate is not None and rate != msdm_rate
    out = []
    for k, q in enumerate(progress(qs, desc="msdm")):
        known = [s in q.y for s in stems]
        chunk = resample(q.chunk, rate, msdm_rate) if other else q.chunk
        given = torch.from_numpy(np.repeat(np.asarray(chunk, np.float32)[None], candidates, 0))
        generator = torch.Generator().manual_seed(seed + k)
        sources = generate_partial(denoise, given, known, sigmas, 0.0, 0, generator).numpy()
        mixes = np.stack([submix(s, stems, q.x) for s in sources])
        best = mixes[np.linalg.norm(mixes, axis=-1).argmax()]
        if other:
            n = q.chunk.shape[-1]
            best = resample(best, msdm_rate, rate)[:n]
            best = np.pad(best, (0, n - best.shape[-1]))
        out.append(best)
    return np.stack(out)
