"""GMSDI's training data: mixtures and the labels of the stems sounding in them, nothing else
(``LabelledMixtures``), or mixtures and an audio embedding of themselves (``SelfEmbeddedMixtures``,
the thesis's MTG-Jamendo model conditioned on CLAP embeddings of its own training mixtures).

Each training song contributes one mixture. ``instrumentation`` says which of its stems it holds:

- ``natural``: all of them, as recorded (Slakh2100 at thesis scale, whose songs already differ in
  instrumentation: many lack guitar or piano);
- ``per_song``: a non-empty set of the song's stems drawn once per song (every set equally
  likely), for a dataset like ``synthpop`` whose songs all have the four stems. It stands in for
  Slakh's variety: a song is heard in one instrumentation only, never as its stems.

A training crop of a mixture is labelled with the stems of its instrumentation that sound in the
crop (the MSDM silence test); a crop where none sounds, and a ``p_uncond`` share of the others,
train the null embedding (classifier-free guidance)."""

from __future__ import annotations

import numpy as np
import torch

from harness.audio.arrays import random_crops
from harness.core.errors import HarnessError
from harness.gmsdi.prompts import lookup

SILENCE = 1.5e-5  # the MSDM protocol's silence threshold: ||x|| / samples
INSTRUMENTATIONS = ("natural", "per_song")


def instrumentations(n_songs: int, n_stems: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """[songs, stems] bool: the stems each training song's mixture holds."""
    if mode == "natural":
        return np.ones((n_songs, n_stems), bool)
    if mode != "per_song":
        raise HarnessError(f"unknown instrumentation {mode!r} (one of {INSTRUMENTATIONS})")
    sets = np.array([[(k >> i) & 1 for i in range(n_stems)] for k in range(1, 2**n_stems)], bool)
    return sets[rng.integers(len(sets), size=n_songs)]


def active(crops: np.ndarray, threshold: float = SILENCE) -> np.ndarray:
    """[n, stems] bool: the stems of crops [n, stems, L] that are not silent."""
    return np.linalg.norm(crops, axis=-1) / crops.shape[-1] >= threshold


class LabelledMixtures:
    """Training batches of (mixture crop [n, 1, L], {"embedding": [n, D], "drop": [n]})."""

    def __init__(self, tracks: list[np.ndarray], stems: list[str], held: np.ndarray,
                 prompts: dict[str, torch.Tensor], crop: int, p_uncond: float):  # fmt: skip
        # a song's stems outside its instrumentation are silenced: its mixture never holds them
        self.tracks = [t * h[:, None].astype(t.dtype) for t, h in zip(tracks, held)]
        self.stems, self.crop, self.p_uncond = stems, crop, p_uncond
        self.table = torch.stack([lookup(prompts, [s for s, on in zip(stems, mask) if on]) if mask.any()
                                  else torch.zeros(len(next(iter(prompts.values()))))
                                  for mask in self._masks()])  # fmt: skip

    def _masks(self) -> list[np.ndarray]:
        n = len(self.stems)
        return [np.array([(k >> i) & 1 for i in range(n)], bool) for k in range(2**n)]

    def __call__(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        crops = random_crops(self.tracks, n, self.crop, rng)
        on = active(crops)
        index = (on * (1 << np.arange(on.shape[1]))).sum(1)  # the label set as a bit mask
        drop = (index == 0) | (rng.random(n) < self.p_uncond)
        mixture = torch.from_numpy(crops.sum(1, keepdims=True))
        return mixture, {"embedding": self.table[index], "drop": torch.from_numpy(drop)}


def audio_embeddings(encoder, clips: np.ndarray, rate: int) -> torch.Tensor:
    """[n, D] embeddings of mono clips [n, 1, L] at ``rate``: the mean of the encoder's frame
    embeddings of each clip (the DAG's FAD encoder, or a frechet-audio-distance backbone such as
    CLAP), at the encoder's rate."""
    from harness.io.wav import resample

    out = []
    for clip in clips:
        frames = encoder.embed(
            [resample(np.asarray(clip, np.float32).reshape(1, -1), rate, encoder.sample_rate)]
        )
        out.append(np.asarray(frames, np.float32).mean(0))
    return torch.from_numpy(np.stack(out))


class SelfEmbeddedMixtures:
    """Training batches of (mixture crop [n, 1, L], {"embedding": the crop's own audio embedding,
    "drop": [n]}): an unsupervised conditional model, no labels."""

    def __init__(self, tracks: list[np.ndarray], encoder, rate: int, crop: int, p_uncond: float, seed: int):
        self.tracks = [t.sum(0, keepdims=True) for t in tracks]
        self.encoder, self.rate, self.crop, self.p_uncond = encoder, rate, crop, p_uncond
        # the embeddings are standardised with the statistics of 256 training crops (an encoder's
        # raw embeddings can share one large direction that would drown the differences between them)
        sample = audio_embeddings(
            encoder, random_crops(self.tracks, 256, crop, np.random.default_rng(seed)), rate
        )
        self.mean, self.std = sample.mean(0), sample.std(0).clamp_min(1e-6)

    def standardise(self, embedding: torch.Tensor) -> torch.Tensor:
        return (embedding - self.mean) / self.std

    def __call__(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        crops = random_crops(self.tracks, n, self.crop, rng)
        drop = rng.random(n) < self.p_uncond
        embedding = self.standardise(audio_embeddings(self.encoder, crops, self.rate))
        return torch.from_numpy(crops), {"embedding": embedding, "drop": torch.from_numpy(drop)}
