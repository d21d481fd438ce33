"""A resumable training loop: steps, periodic evaluation and checkpoints, preemption-safe.

Each family supplies ``step_fn(rng) -> loss`` (one optimisation step's loss on a batch it draws
from ``rng``) and optionally ``evaluate() -> dict`` (logged and kept in the history). The loop
resumes from ``checkpoint`` when one of the same ``tag`` (the run's settings) exists, so a run
killed at any point and restarted ends with the same weights as one that was never stopped.
``finish_run`` then writes the history CSV and the run's meta JSON and drops the checkpoint.
Histories hold steps, losses and validation numbers only: wall-clock seconds go to the log.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from harness.core.atomic import remove_when_done, write_text
from harness.core.logs import LOG, progress
from harness.core.rows import write_rows_csv
from harness.train.checkpoint import load_checkpoint, save_checkpoint


def warmup_cosine(lr: float, warmup: int, steps: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps to ``lr``, then cosine decay to 0 at ``steps``."""

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))

    return lr_at


@dataclass(frozen=True)
class RunFiles:
    """Where a training step writes: the model, its history CSV and meta JSON, and the
    resumable checkpoint (removed once the run has finished)."""

    model: str
    history_csv: str
    meta_json: str
    checkpoint: str


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step_fn: Callable[[np.random.Generator], torch.Tensor],
    steps: int,
    rng: np.random.Generator,
    checkpoint: str,
    tag: str,
    every: int,
    evaluate: Callable[[], dict] | None = None,
    stop_after: int | None = None,
    desc: str = "train",
    loss_digits: int = 6,
    checkpoint_every: int | None = None,
    after_step: Callable[[], None] | None = None,
    keep_best: str | None = None,
    lr_at: Callable[[int], float] | None = None,
) -> tuple[list[dict], bool]:
    """Run ``steps`` optimisation steps, logging (and evaluating) every ``every`` steps and
    checkpointing every ``checkpoint_every`` (default: ``every``) and at the end; returns
    (history, finished). ``stop_after`` stops there as a preemption would (the checkpoint
    stays), for tests. ``after_step()`` runs after each optimiser step (an EMA of the weights).

    ``keep_best``: a key of ``evaluate()``'s row (a validation loss); the run ends with the
    weights of the evaluation where it was lowest (the first on ties), as early stopping keeps
    its best checkpoint, and the history's ``kept`` column marks that row.

    ``lr_at(step)``: the learning rate of optimisation step ``step`` (0-based), set on every
    parameter group before it (a schedule that follows the step, so a resumed run keeps it)."""
    checkpoint_every = checkpoint_every or every
    best: dict = {}
    step, history = load_checkpoint(checkpoint, model, optimizer, rng, tag, best)
    bar = progress(total=steps, initial=step, desc=desc)
    started = time.perf_counter()
    while step < steps:
        model.train()
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        loss = step_fn(rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        step += 1
        bar.update(1)
        if step % every == 0 or step == steps:
            row = {"step": step, "train_loss": round(float(loss.item()), loss_digits)}
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    row.update(evaluate())
                if keep_best is not None and (not best or row[keep_best] < best["value"]):
                    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    best.update(step=step, value=row[keep_best], model=state)
            history.append(row)
            LOG.info("%s step %d: %s", desc, step, row)
        if step % checkpoint_every == 0 or step == steps:
            save_checkpoint(checkpoint, model, optimizer, step, rng, history, tag, best)
        if stop_after is not None and step >= stop_after and step < steps:
            LOG.info("%s: stopping after step %d (checkpoint kept)", desc, step)
            bar.close()
            return history, False
    bar.close()
    if best:
        model.load_state_dict(best["model"])
        for row in history:
            row["kept"] = int(row["step"] == best["step"])
        LOG.info("%s: keeping step %d (%s %s)", desc, best["step"], keep_best, best["value"])
    model.eval()
    LOG.info("%s: %.1f s of training in this run", desc, time.perf_counter() - started)
    return history, True


def finish_run(
    history: list[dict],
    history_csv: str | None,
    meta: dict,
    meta_json: str | None,
    checkpoint: str,
    columns: list[str] | None = None,
) -> None:
    """After the model is saved: write the history CSV (``columns`` in order; a missing cell is
    empty) and the meta JSON, then remove the checkpoint, which a finished run no longer needs."""
    if history_csv:
        write_rows_csv(history_csv, history, columns)
    if meta_json:
        write_text(meta_json, json.dumps(meta, indent=1) + "\n")
    remove_when_done(checkpoint)
