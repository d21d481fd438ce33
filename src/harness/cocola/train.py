"""Training a COCOLA encoder (thesis 7.3.1, 7.4) with the shared resumable loop: Adam on the
contrastive loss of eq. 7.3 over batches of K windows, the accuracy of eq. 7.5 (K = 2, batches
within one dataset, averaged over the datasets) logged on the validation pairs of the split
files as training goes (Figure 7.3 plots it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from harness.cocola.data import Track, WindowSampler, pair_audio
from harness.cocola.evaluate import embed_pairs, group_accuracy
from harness.cocola.model import Cocola, Features, ModelSettings, batch_accuracy, contrastive_loss, save_model
from harness.core.logs import LOG
from harness.train.checkpoint import seed_everything
from harness.train.loop import RunFiles, finish_run, train_steps


@dataclass(frozen=True)
class TrainSettings:
    window_seconds: float  # L (thesis: 5 s)
    batch_size: int  # K windows per batch (thesis: 32)
    max_overlap: float  # r (thesis: 0.5)
    noise: float  # std of the Gaussian noise added to positives (thesis: 1e-3)
    active_db: float  # a stem is active in a window above this RMS (dBFS)
    lr: float
    steps: int
    checkpoint_every: int
    log_every: int
    valid_groups: int  # random K = 2 groups of validation pairs scored at each log step


def train_cocola(
    tracks: list[Track], valid: list[tuple[dict[str, Track], list[dict]]], features: Features,
    model_settings: ModelSettings, settings: TrainSettings, seed: int, files: RunFiles, device: str,
    stop_after: int | None = None,
) -> bool:  # fmt: skip
    """Train on ``tracks``; ``valid``: (tracks by id, validation pairs) of each dataset."""
    rng = seed_everything(seed)
    window = round(settings.window_seconds * features.sample_rate)
    model = Cocola(features, model_settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    sampler = WindowSampler(tracks, window, settings.max_overlap, settings.active_db, settings.noise)
    # validation pairs of each dataset apart: a batch mixing datasets would be told apart by timbre
    valid_audio = [[pair_audio(by_id, p, window) for p in pairs] for by_id, pairs in valid if len(pairs) >= 2]
    last = {}

    def step_fn(step_rng):
        anchors, positives = sampler.batch(settings.batch_size, step_rng)
        h = model.embed(torch.from_numpy(np.concatenate([anchors, positives])).to(device))
        sim = model.similarity(h[: len(anchors)], h[len(anchors) :])
        last["accuracy"] = batch_accuracy(sim.detach())
        return contrastive_loss(sim)

    def evaluate():
        row = {"train_accuracy": round(last["accuracy"], 4)}
        if valid_audio:
            # the groups are drawn from a generator of their own: validating draws nothing from
            # the training stream, so the weights do not depend on how often one validates
            groups = np.random.default_rng(seed)
            accuracy = []
            for audio in valid_audio:  # K = 2 batches within each dataset, then their mean
                h1, h2 = embed_pairs(model, audio, device)
                sim = model.similarity(h1, h2).cpu().numpy()
                accuracy.append(group_accuracy(sim, 2, settings.valid_groups, groups)[0])
            row["valid_accuracy"] = round(float(np.mean(accuracy)), 4)
        return row

    n_valid = sum(len(a) for a in valid_audio)
    tag = repr((asdict(features), asdict(model_settings), settings, seed, len(tracks), n_valid))
    history, finished = train_steps(
        model, optimizer, step_fn, settings.steps, rng, files.checkpoint, tag, settings.log_every,
        evaluate=evaluate, stop_after=stop_after, desc=f"cocola ({model_settings.similarity})",
        checkpoint_every=settings.checkpoint_every,
    )  # fmt: skip
    if not finished:
        return False
    save_model(files.model, model, {"window": window})
    params = sum(p.numel() for p in model.parameters())
    meta = {"parameters": params, "steps": settings.steps, "train_tracks": len(tracks),
            "valid_pairs": n_valid, "similarity": model_settings.similarity,
            "final": history[-1] if history else None}  # fmt: skip
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint,
               ["step", "train_loss", "train_accuracy", "valid_accuracy"])  # fmt: skip
    LOG.info("cocola (%s): %d parameters, final %s", model_settings.similarity, params, meta["final"])
    return True
