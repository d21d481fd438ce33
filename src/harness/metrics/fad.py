"""Fréchet Audio Distance through the ``frechet-audio-distance`` package.

FAD = ||mu_b - mu_e||^2 + Tr(S_b + S_e - 2 (S_b S_e)^(1/2)) between Gaussians fitted to the
embeddings of a background set and an evaluation set. The statistics and the distance are the
package's own (``calculate_embd_statistics``, ``calculate_frechet_distance``); what changes
between scales is the encoder:

- thesis scale: the package's VGGish / PANN / CLAP / EnCodec backbones, with their checkpoint
  files placed beforehand in a local ``ckpt_dir`` (the package downloads missing ones, which no
  machine here can do, so a missing file stops the step with its name);
- embedded scale: the stem-classifier CNN the DAG trains on the embedded stems
  (``harness.audio.encoder``), named as such in every table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError

# Files the package looks for under ckpt_dir (vggish goes through torch.hub's cache layout).
PACKAGE_FILES = {
    "vggish": ["hub/checkpoints/vggish-10086976.pth", "hub/harritaylor_torchvggish_master"],
    "pann": ["Cnn14_16k_mAP=0.438.pth"],
    "clap": ["music_audioset_epoch_15_esc_90.14.pt"],
    "encodec": ["hub/checkpoints/encodec_24khz-d7cc33bc.th"],
}
PACKAGE_RATES = {"vggish": 16000, "pann": 16000, "clap": 48000, "encodec": 24000}


def _package():
    from harness.core.offline import go_offline

    go_offline()  # the package imports laion_clap, which asks the hub for a tokenizer otherwise
    from frechet_audio_distance import FrechetAudioDistance

    return FrechetAudioDistance


def frechet_distance(background: np.ndarray, evaluation: np.ndarray) -> float:
    """FAD between two embedding sets ``[n, d]`` (the package's statistics and distance)."""
    background, evaluation = np.asarray(background, np.float64), np.asarray(evaluation, np.float64)
    for name, emb in (("background", background), ("evaluation", evaluation)):
        if emb.ndim != 2 or emb.shape[0] < 2:
            raise HarnessError(f"FAD needs at least 2 {name} embeddings, got shape {emb.shape}")
    if background.shape[1] != evaluation.shape[1]:
        raise HarnessError(f"embedding sizes differ: {background.shape[1]} vs {evaluation.shape[1]}")
    fad = _package().__new__(_package())  # the two methods use no model state
    mu_b, sigma_b = fad.calculate_embd_statistics(background)
    mu_e, sigma_e = fad.calculate_embd_statistics(evaluation)
    return float(fad.calculate_frechet_distance(mu_b, sigma_b, mu_e, sigma_e))


class PackageEncoder:
    """A backbone of ``frechet-audio-distance`` loaded from checkpoint files already on disk."""

    def __init__(self, model: str, ckpt_dir: str | os.PathLike, submodel: str = "music_audioset"):
        if model not in PACKAGE_FILES:
            raise HarnessError(f"unknown FAD backbone {model!r} (one of {', '.join(PACKAGE_FILES)})")
        missing = [f for f in PACKAGE_FILES[model] if not (Path(ckpt_dir) / f).exists()]
        if missing:
            raise HarnessError(
                f"FAD backbone {model}: {', '.join(str(Path(ckpt_dir) / f) for f in missing)} not found "
                "(place the checkpoint there; nothing is downloaded)"
            )
        self.name = f"{model} (frechet-audio-distance)"
        self.sample_rate = PACKAGE_RATES[model]
        kwargs = {"submodel_name": submodel} if model == "clap" else {}
        self.model = _package()(
            ckpt_dir=str(ckpt_dir), model_name=model, sample_rate=self.sample_rate, **kwargs
        )

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """Embeddings of mono clips at ``self.sample_rate`` (several frames per clip)."""
        return self.model.get_embeddings(
            [np.asarray(c, np.float32).reshape(-1) for c in clips], self.sample_rate
        )


def fad_of_clips(encoder, background: list[np.ndarray], evaluation: list[np.ndarray]) -> float:
    """FAD between two lists of mono clips (at the encoder's sample rate)."""
    if not background or not evaluation:
        raise HarnessError("FAD needs clips in both sets")
    return frechet_distance(encoder.embed(background), encoder.embed(evaluation))


def fad_of_mixes(encoder, real: list[np.ndarray], mixes: np.ndarray, rate: int) -> float:
    """FAD (4 decimals) between real clips at the encoder's rate and generated mono clips
    ``mixes`` [S, L] at ``rate`` (resampled to the encoder's)."""
    from harness.io.wav import resample

    gen = [resample(m[None].astype(np.float32), rate, encoder.sample_rate) for m in mixes]
    return round(float(fad_of_clips(encoder, real, gen)), 4)
