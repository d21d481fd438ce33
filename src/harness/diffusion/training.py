"""Training a diffusion model file (``harness.diffusion.models``) with the shared resumable loop,
data-parallel under ``accelerate``: what MSDM / ISDM / the mixture model and GMSDI's conditional
model share. A family supplies the batches; this module draws the noise levels and the noise,
takes the EDM loss, keeps the EMA and writes the model file.

With G processes (``accelerate launch --num_processes G``), every process draws the same global
batch of G x batch_size items, noise levels and noise from the same seeded generators and trains
on its own slice; gradients are averaged by DistributedDataParallel. The weights, the optimiser
state and every random state are then identical on all processes, so the checkpoint each writes
is the same file, and a run resumed after a kill continues exactly as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from harness.core.errors import HarnessError
from harness.diffusion.edm import ema_update, training_sigmas
from harness.diffusion.models import Loss, Training, save_model
from harness.train.checkpoint import seed_everything
from harness.train.loop import RunFiles, finish_run, train_steps

# batch(step_rng, n) -> (clean [n, C, L], condition): one global batch; condition holds a
# conditional net's per-item tensors ({"embedding": [n, D], "drop": [n]}), {} for an unconditional one
Batch = Callable[[np.random.Generator, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class DiffusionSettings:
    """The settings every diffusion training run has (a family's settings extend them)."""

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


def train_diffusion(
    config: dict, settings: DiffusionSettings, batch: Batch, seed: int, files: RunFiles, device: str, desc: str,
    stop_after: int | None = None, extra: dict | None = None,
) -> tuple[Training | None, list[dict]]:  # fmt: skip
    """Train the model of ``config`` with ``settings`` on ``batch``; ``extra`` entries join the
    model file. Returns (the training state, history) on the main process once finished, else (None, [])."""
    accelerator = _accelerator(device)
    rank, world = accelerator.process_index, accelerator.num_processes
    rng = seed_everything(seed)
    training = Training(config).to(accelerator.device)
    if settings.crop % training.denoiser.net.settings.multiple:
        raise HarnessError(
            f"crop {settings.crop} is not a multiple of the U-Net's {training.denoiser.net.settings.multiple}"
        )
    loss_module = Loss(training.denoiser)
    wrapped = accelerator.prepare_model(loss_module) if world > 1 else loss_module
    optimizer = torch.optim.Adam(training.denoiser.parameters(), lr=settings.lr)
    total = settings.batch_size * world

    def step_fn(step_rng):
        clean, condition = batch(step_rng, total)
        sigma = training_sigmas(total, settings.p_mean, settings.p_std)
        noise = torch.randn(clean.shape)
        mine = slice(rank * settings.batch_size, (rank + 1) * settings.batch_size)
        dev = accelerator.device
        condition = {k: v[mine].to(dev) for k, v in condition.items()}
        return wrapped(clean[mine].to(dev), noise[mine].to(dev), sigma[mine].to(dev), **condition)

    tag = repr((config, settings, seed, world))
    history, finished = train_steps(
        training, optimizer, step_fn, settings.steps, rng, files.checkpoint, tag, settings.log_every,
        stop_after=stop_after, desc=desc, checkpoint_every=settings.checkpoint_every,
        after_step=lambda: ema_update(training.denoiser, training.ema, settings.ema),
    )  # fmt: skip
    accelerator.wait_for_everyone()
    if not finished or not accelerator.is_main_process:
        return None, []
    save_model(files.model, training, extra)
    return training, history


def finish_diffusion(training: Training, history: list[dict], files: RunFiles, meta: dict) -> int:
    """The history CSV and the meta JSON of a finished run (parameters and final loss added);
    returns the parameter count."""
    params = sum(p.numel() for p in training.denoiser.parameters())
    meta = {**meta, "parameters": params, "final_loss": history[-1]["train_loss"] if history else None}
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint, ["step", "train_loss"])
    return params
