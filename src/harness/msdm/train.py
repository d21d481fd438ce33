"""Training a diffusion model of the chapter (MSDM, an ISDM stem model, the mixture model) with
the shared resumable loop, data-parallel under ``accelerate``.

With G processes (``accelerate launch --num_processes G``), every process draws the same global
batch of G x batch_size crops, noise levels and noise from the same seeded generators and trains
on its own slice; gradients are averaged by DistributedDataParallel. The weights, the optimiser
state and every random state are then identical on all processes, so the checkpoint each writes
is the same file, and a run resumed after a kill continues exactly as an uninterrupted one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.core.logs import LOG
from harness.diffusion.edm import ema_update, training_sigmas
from harness.msdm.data import random_crops
from harness.msdm.models import Loss, Training, save_model
from harness.train.checkpoint import seed_everything
from harness.train.loop import RunFiles, finish_run, train_steps


@dataclass(frozen=True)
class TrainSettings:
    sample_rate: int
    crop: int  # samples per training crop (a multiple of the U-Net's factors)
    sigma_data: float
    p_mean: float  # log sigma ~ N(p_mean, p_std^2)
    p_std: float
    ema: float  # EMA decay of the weights
    lr: float
    batch_size: int  # per process
    steps: int
    checkpoint_every: int
    log_every: int
    unet: dict


def _accelerator(device: str):
    from accelerate import Accelerator

    return Accelerator(cpu=device == "cpu")


def train_model(
    tracks: list[np.ndarray], stems: list[str], mixture: bool, settings: TrainSettings, seed: int,
    files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """Train on ``tracks`` ([N, samples] each; summed to one channel when ``mixture``); returns
    whether the run finished (the main process then wrote the model, history and meta)."""
    accelerator = _accelerator(device)
    rank, world = accelerator.process_index, accelerator.num_processes
    rng = seed_everything(seed)
    config = {"stems": stems, "mixture": mixture, "sample_rate": settings.sample_rate, "crop": settings.crop,
              "sigma_data": settings.sigma_data, "unet": settings.unet}  # fmt: skip
    training = Training(config).to(accelerator.device)
    if settings.crop % training.denoiser.net.settings.multiple:
        from harness.core.errors import HarnessError

        raise HarnessError(
            f"crop {settings.crop} is not a multiple of the U-Net's {training.denoiser.net.settings.multiple}"
        )
    loss_module = Loss(training.denoiser)
    wrapped = accelerator.prepare_model(loss_module) if world > 1 else loss_module
    optimizer = torch.optim.Adam(training.denoiser.parameters(), lr=settings.lr)
    if mixture:
        tracks = [t.sum(0, keepdims=True) for t in tracks]
    total = settings.batch_size * world

    def step_fn(step_rng):
        crops = torch.from_numpy(random_crops(tracks, total, settings.crop, step_rng))
        sigma = training_sigmas(total, settings.p_mean, settings.p_std)
        noise = torch.randn(crops.shape)
        mine = slice(rank * settings.batch_size, (rank + 1) * settings.batch_size)
        dev = accelerator.device
        return wrapped(crops[mine].to(dev), noise[mine].to(dev), sigma[mine].to(dev))

    tag = repr((config, settings, seed, world))
    history, finished = train_steps(
        training, optimizer, step_fn, settings.steps, rng, files.checkpoint, tag, settings.log_every,
        stop_after=stop_after, desc="msdm", checkpoint_every=settings.checkpoint_every,
        after_step=lambda: ema_update(training.denoiser, training.ema, settings.ema),
    )  # fmt: skip
    accelerator.wait_for_everyone()
    if not finished or not accelerator.is_main_process:
        return False
    save_model(files.model, training)
    params = sum(p.numel() for p in training.denoiser.parameters())
    meta = {"stems": stems, "mixture": mixture, "parameters": params, "processes": world,
            "steps": settings.steps, "final_loss": history[-1]["train_loss"] if history else None}  # fmt: skip
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint, ["step", "train_loss"])
    LOG.info("msdm model (%s%s): %d parameters, %d process(es)", "mixture of " if mixture else "",
             "+".join(stems), params, world)  # fmt: skip
    return True
