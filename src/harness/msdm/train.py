"""Training a diffusion model of the chapter (MSDM, an ISDM stem model, the mixture model) on
random crops of the training songs, with the shared data-parallel, resumable diffusion training
(``harness.diffusion.training``)."""

from __future__ import annotations

import numpy as np
import torch

from harness.audio.arrays import random_crops
from harness.core.logs import LOG
from harness.diffusion.training import DiffusionSettings, finish_diffusion, train_diffusion
from harness.train.loop import RunFiles


class TrainSettings(DiffusionSettings):
    """MSDM's settings: the shared ones (``msdm.diffusion``)."""


def train_model(
    tracks: list[np.ndarray], stems: list[str], mixture: bool, settings: TrainSettings, seed: int,
    files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """Train on ``tracks`` ([N, samples] each; summed to one channel when ``mixture``); returns
    whether the run finished (the main process then wrote the model, history and meta)."""
    config = {"stems": stems, "mixture": mixture, "sample_rate": settings.sample_rate, "crop": settings.crop,
              "sigma_data": settings.sigma_data, "unet": settings.unet}  # fmt: skip
    if mixture:
        tracks = [t.sum(0, keepdims=True) for t in tracks]

    def batch(step_rng, n):
        return torch.from_numpy(random_crops(tracks, n, settings.crop, step_rng)), {}

    training, history = train_diffusion(config, settings, batch, seed, files, device, "msdm", stop_after)
    if training is None:
        return False
    world = max(1, torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1)
    meta = {"stems": stems, "mixture": mixture, "processes": world, "steps": settings.steps}
    params = finish_diffusion(training, history, files, meta)
    LOG.info("msdm model (%s%s): %d parameters, %d process(es)", "mixture of " if mixture else "",
             "+".join(stems), params, world)  # fmt: skip
    return True
