"""A resumable training loop: steps, periodic evaluation and checkpoints, preemption-safe.

Each family supplies ``step_fn(rng) -> loss`` (one optimisation step's loss on a batch it draws
from ``rng``) and optionally ``evaluate() -> dict`` (logged and kept in the history). The loop
resumes from ``checkpoint`` when one of the same ``tag`` (the run's settings) exists, so a run
killed at any point and restarted ends with the same weights as one that was never stopped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from harness.core.logs import LOG, progress
from harness.train.checkpoint import load_checkpoint, save_checkpoint


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step_fn: Callable[[np.random.Generator], torch.Tensor],
    steps: int,
    rng: np.random.Generator,
    checkpoint: str,
    tag: str,
    every: int = 100,
    evaluate: Callable[[], dict] | None = None,
    stop_after: int | None = None,
    desc: str = "train",
    loss_digits: int = 6,
) -> tuple[list[dict], bool]:
    """Run ``steps`` optimisation steps; returns (history, finished). ``stop_after`` stops there
    as a preemption would (the checkpoint stays), for tests."""
    step, history = load_checkpoint(checkpoint, model, optimizer, rng, tag)
    bar = progress(total=steps, initial=step, desc=desc)
    while step < steps:
        model.train()
        loss = step_fn(rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        bar.update(1)
        if step % every == 0 or step == steps:
            row = {"step": step, "train_loss": round(float(loss.item()), loss_digits)}
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    row.update(evaluate())
            history.append(row)
            LOG.info("%s step %d: %s", desc, step, row)
            save_checkpoint(checkpoint, model, optimizer, step, rng, history, tag)
        if stop_after is not None and step >= stop_after and step < steps:
            LOG.info("%s: stopping after step %d (checkpoint kept)", desc, step)
            bar.close()
            return history, False
    bar.close()
    model.eval()
    return history, True
