"""Training of the LASS VQ-VAE and of its autoregressive prior (resumable, seeded).

VQ-VAE loss: mean squared reconstruction error + the quantiser's codebook and commitment terms.
Prior loss: next-code cross-entropy of the GPT-2 model on the VQ-VAE codes of the training
digits (computed once, with the trained VQ-VAE, before training starts).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import torch

from harness.core.logs import LOG
from harness.lass.config import PriorSettings, VQVAESettings
from harness.lass.models import (
    VQVAE,
    PriorConfig,
    VQVAEConfig,
    make_prior,
    save_model,
    with_bos,
)
from harness.train.checkpoint import seed_everything
from harness.train.loop import RunFiles, finish_run, train_steps, warmup_cosine


def train_and_save(
    kind: str,
    name: str,
    model: torch.nn.Module,
    config,
    optimizer: torch.optim.Optimizer,
    step_fn,
    evaluate,
    settings: VQVAESettings | PriorSettings,
    rng: np.random.Generator,
    tag: dict,
    files: RunFiles,
    stop_after: int | None,
    lr_at=None,
) -> dict | None:
    """Train (resumable; ``lr_at``: the learning-rate schedule, see ``train_steps``), then write
    the model, its history CSV and meta JSON and remove the checkpoint. None if stopped early."""
    history, done = train_steps(
        model, optimizer, step_fn, settings.steps, rng, files.checkpoint, json.dumps(tag, sort_keys=True),
        every=settings.checkpoint_every, evaluate=evaluate, stop_after=stop_after, desc=kind, lr_at=lr_at,
    )  # fmt: skip
    if not done:
        return None
    save_model(files.model, kind, model.cpu(), config)
    meta = {"model": name, "config": dict(sorted(asdict(settings).items())),
            "parameters": sum(p.numel() for p in model.parameters()), **history[-1]}  # fmt: skip
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint)
    return meta


@torch.no_grad()
def encode_all(vqvae: VQVAE, images: np.ndarray, batch: int = 500) -> torch.Tensor:
    """Codes ``[n, h, w]`` (on the CPU) of float images ``[n, c, H, W]``."""
    vqvae.eval()
    device = next(vqvae.parameters()).device
    return torch.cat([vqvae.encode(torch.from_numpy(images[i : i + batch]).to(device)).cpu()
                      for i in range(0, len(images), batch)])  # fmt: skip


def train_vqvae(
    train_images: np.ndarray,
    valid_images: np.ndarray,
    settings: VQVAESettings,
    seed: int,
    files: RunFiles,
    device: str,
    stop_after: int | None = None,
) -> bool:
    config = VQVAEConfig(settings.codes, settings.dim, settings.beta, settings.decay, settings.dead_code,
                         channels=int(train_images.shape[1]))  # fmt: skip
    batch = settings.batch_size
    rng = seed_everything(seed)
    model = VQVAE(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    valid = torch.from_numpy(valid_images).to(device)

    def step_fn(rng):
        x = torch.from_numpy(train_images[rng.integers(len(train_images), size=batch)]).to(device)
        recon, vq_loss = model(x)
        return torch.mean((recon - x) ** 2) + vq_loss

    def evaluate():
        recon, _ = model(valid)
        codes = model.encode(valid)
        return {
            "valid_mse": round(float(torch.mean((recon - valid) ** 2)), 6),
            "codes_used": int(torch.unique(codes).numel()),
        }

    meta = train_and_save(
        "vqvae", "VQ-VAE (LASS MNIST architecture, trained in the DAG)", model, config, opt, step_fn, evaluate,
        settings, rng, {"settings": asdict(settings), "seed": seed, "n": len(train_images)}, files, stop_after,
    )  # fmt: skip
    if meta is None:
        return False
    LOG.info(
        "VQ-VAE: valid MSE %.5f, %d of %d codes used", meta["valid_mse"], meta["codes_used"], config.codes
    )
    return True


def train_prior(
    train_codes: torch.Tensor,
    valid_codes: torch.Tensor,
    settings: PriorSettings,
    codes: int,
    seed: int,
    files: RunFiles,
    device: str,
    stop_after: int | None = None,
) -> bool:
    """GPT-2 prior on code sequences ``[n, S]`` (S = 49 for MNIST)."""
    length = train_codes.shape[1]
    config = PriorConfig(codes, length, settings.n_layer, settings.n_embd, settings.n_head)
    batch = settings.batch_size
    rng = seed_everything(seed)
    model = make_prior(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    lr_at = (
        warmup_cosine(settings.lr, settings.warmup, settings.steps)
        if settings.lr_schedule == "cosine"
        else None
    )
    train_seq, valid_seq = with_bos(train_codes, codes).to(device), with_bos(valid_codes, codes).to(device)

    def nll(seq: torch.Tensor) -> torch.Tensor:
        return model(input_ids=seq, labels=seq).loss  # transformers shifts the labels by one

    def step_fn(rng):
        return nll(train_seq[torch.from_numpy(rng.integers(len(train_seq), size=batch)).to(device)])

    def evaluate():
        loss = float(np.mean([float(nll(valid_seq[i : i + 500])) for i in range(0, len(valid_seq), 500)]))
        return {"valid_nll": round(loss, 5)}

    meta = train_and_save(
        "prior", "GPT-2 prior over VQ-VAE codes (transformers GPT2LMHeadModel, trained in the DAG)", model, config,
        opt, step_fn, evaluate, settings, rng,
        {"settings": asdict(settings), "seed": seed, "n": len(train_seq), "codes": codes}, files, stop_after, lr_at,
    )  # fmt: skip
    if meta is None:
        return False
    return True
