"""Training GMSDI's text-conditioned mixture model (eq. 2.9) with the shared diffusion training:
the EDM loss on mixture crops, the embedding of each crop's stem labels as the condition, and
condition dropout for classifier-free guidance."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from harness.core.logs import LOG
from harness.diffusion.training import DiffusionSettings, finish_diffusion, train_diffusion
from harness.gmsdi.data import LabelledMixtures, SelfEmbeddedMixtures, instrumentations
from harness.train.loop import RunFiles


@dataclass(frozen=True)
class TrainSettings(DiffusionSettings):
    p_uncond: float  # share of crops trained with the null embedding
    instrumentation: str  # natural | per_song (harness.gmsdi.data)


def train_gmsdi(
    tracks: list[np.ndarray], stems: list[str], prompts: dict[str, torch.Tensor], encoder: str,
    settings: TrainSettings, seed: int, files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """Train on the mixtures of ``tracks`` ([N, samples] per song); returns whether it finished."""
    held = instrumentations(len(tracks), len(stems), settings.instrumentation, np.random.default_rng(seed))
    data = LabelledMixtures(tracks, stems, held, prompts, settings.crop, settings.p_uncond)
    features = int(next(iter(prompts.values())).numel())
    config = {"stems": stems, "mixture": True, "sample_rate": settings.sample_rate, "crop": settings.crop,
              "sigma_data": settings.sigma_data, "unet": settings.unet, "embedding_features": features,
              "text_encoder": encoder}  # fmt: skip
    extra = {"prompts": {k: v.clone() for k, v in prompts.items()}}
    training, history = train_diffusion(
        config, settings, data, seed, files, device, "gmsdi", stop_after, extra
    )
    if training is None:
        return False
    songs = Counter("+".join(s for s, on in zip(stems, h) if on) for h in held)
    meta = {"stems": stems, "steps": settings.steps, "instrumentation": settings.instrumentation,
            "songs_per_instrumentation": songs, "text_encoder": encoder}  # fmt: skip
    params = finish_diffusion(training, history, files, meta)
    LOG.info(
        "gmsdi model: %d parameters; %d training songs in %d instrumentations",
        params,
        len(tracks),
        len(songs),
    )
    return True


def train_self_conditioned(
    tracks: list[np.ndarray], stems: list[str], encoder, encoder_name: str, settings: TrainSettings, seed: int,
    files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """The unsupervised model: the mixtures of ``tracks`` conditioned on their own audio
    embeddings (thesis: MTG-Jamendo with LAION-CLAP); returns whether it finished."""
    data = SelfEmbeddedMixtures(tracks, encoder, settings.sample_rate, settings.crop, settings.p_uncond, seed)
    features = int(data.mean.shape[0])
    config = {"stems": ["mixture"], "mixture": True, "sample_rate": settings.sample_rate, "crop": settings.crop,
              "sigma_data": settings.sigma_data, "unet": settings.unet, "embedding_features": features,
              "audio_encoder": encoder_name}  # fmt: skip
    extra = {"prompts": {}, "embedding_mean": data.mean, "embedding_std": data.std}
    training, history = train_diffusion(
        config, settings, data, seed, files, device, "gmsdi", stop_after, extra
    )
    if training is None:
        return False
    meta = {
        "mixtures_of": stems,
        "steps": settings.steps,
        "audio_encoder": encoder_name,
        "songs": len(tracks),
    }
    params = finish_diffusion(training, history, files, meta)
    LOG.info(
        "self-conditioned gmsdi model: %d parameters, %d songs, embeddings of %s",
        params,
        len(tracks),
        encoder_name,
    )
    return True
