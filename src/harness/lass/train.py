"""Training of the LASS VQ-VAE and of its autoregressive prior (resumable, seeded).

VQ-VAE loss: mean squared reconstruction error + the quantiser's codebook and commitment terms.
Prior loss: next-code cross-entropy of the GPT-2 model on the VQ-VAE codes of the training
digits (computed once, with the trained VQ-VAE, before training starts).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from harness.core.atomic import write_text
from harness.core.logs import LOG
from harness.lass.models import (
    VQVAE,
    PriorConfig,
    VQVAEConfig,
    make_prior,
    save_model,
    with_bos,
)
from harness.tables.ours import write_rows_csv
from harness.train.checkpoint import seed_everything
from harness.train.loop import train_steps


def _train_and_save(
    kind: str,
    name: str,
    model: torch.nn.Module,
    config,
    optimizer: torch.optim.Optimizer,
    step_fn,
    evaluate,
    settings: dict,
    rng: np.random.Generator,
    tag: dict,
    paths: tuple[str, str, str, str],
    stop_after: int | None,
) -> dict | None:
    """Train (resumable), then write the model, its history CSV and meta JSON and remove the
    checkpoint; ``paths`` = (model, history CSV, meta JSON, checkpoint). None if stopped early."""
    out, history_csv, meta_json, checkpoint = paths
    start = time.perf_counter()
    history, done = train_steps(
        model, optimizer, step_fn, int(settings["steps"]), rng, checkpoint, json.dumps(tag, sort_keys=True),
        every=int(settings.get("checkpoint_every", 100)), evaluate=evaluate, stop_after=stop_after, desc=kind,
    )  # fmt: skip
    if not done:
        return None
    save_model(out, kind, model.cpu(), config)
    meta = {"model": name, "config": settings, "parameters": sum(p.numel() for p in model.parameters()),
            **history[-1], "seconds_this_run": round(time.perf_counter() - start, 1)}  # fmt: skip
    write_rows_csv(history_csv, history, list(dict.fromkeys(k for row in history for k in row)))
    write_text(meta_json, json.dumps(meta, indent=1) + "\n")
    if os.path.exists(checkpoint):
        os.unlink(checkpoint)
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
    settings: dict,
    seed: int,
    out: str,
    history_csv: str,
    meta_json: str,
    checkpoint: str,
    stop_after: int | None = None,
    device: str = "cpu",
) -> bool:
    config = VQVAEConfig(int(settings["codes"]), int(settings["dim"]), float(settings.get("beta", 0.25)),
                         channels=int(train_images.shape[1]))  # fmt: skip
    batch = int(settings["batch_size"])
    rng = seed_everything(seed)
    model = VQVAE(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(settings["lr"]))
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

    meta = _train_and_save(
        "vqvae", "VQ-VAE (LASS MNIST architecture, trained in the DAG)", model, config, opt, step_fn, evaluate,
        settings, rng, {"settings": settings, "seed": seed, "n": len(train_images)},
        (out, history_csv, meta_json, checkpoint), stop_after,
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
    settings: dict,
    codes: int,
    seed: int,
    out: str,
    history_csv: str,
    meta_json: str,
    checkpoint: str,
    stop_after: int | None = None,
    device: str = "cpu",
) -> bool:
    """GPT-2 prior on code sequences ``[n, S]`` (S = 49 for MNIST)."""
    length = train_codes.shape[1]
    config = PriorConfig(
        codes, length, int(settings["n_layer"]), int(settings["n_embd"]), int(settings["n_head"])
    )
    batch = int(settings["batch_size"])
    rng = seed_everything(seed)
    model = make_prior(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=float(settings["lr"]), weight_decay=0.0)
    train_seq, valid_seq = with_bos(train_codes, codes).to(device), with_bos(valid_codes, codes).to(device)

    def nll(seq: torch.Tensor) -> torch.Tensor:
        return model(input_ids=seq, labels=seq).loss  # transformers shifts the labels by one

    def step_fn(rng):
        return nll(train_seq[torch.from_numpy(rng.integers(len(train_seq), size=batch)).to(device)])

    def evaluate():
        loss = float(np.mean([float(nll(valid_seq[i : i + 500])) for i in range(0, len(valid_seq), 500)]))
        return {"valid_nll": round(loss, 5)}

    meta = _train_and_save(
        "prior", "GPT-2 prior over VQ-VAE codes (transformers GPT2LMHeadModel, trained in the DAG)", model, config,
        opt, step_fn, evaluate, settings, rng, {"settings": settings, "seed": seed, "n": len(train_seq), "codes": codes},
        (out, history_csv, meta_json, checkpoint), stop_after,
    )  # fmt: skip
    if meta is None:
        return False
    return True
