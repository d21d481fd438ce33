"""Resumable training state: a cluster may preempt a job at any step.

A checkpoint holds the model, the optimiser, the step reached, the loss history and every random
state (torch and the numpy generator that draws batches), so a resumed run continues exactly as
if it had never stopped. Checkpoints are written atomically: a kill during the write leaves the
previous checkpoint in place.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from harness.core.atomic import atomic_path
from harness.core.errors import HarnessError
from harness.core.logs import LOG


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, torch (CPU and CUDA) and return a numpy generator for data draws."""
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def save_checkpoint(
    path: str,
    model,
    optimizer,
    step: int,
    rng: np.random.Generator,
    history: list,
    tag: str,
    best: dict | None = None,
):
    """``best``: the run's best weights so far ({"step", "value", "model"}), kept for a resume."""
    state = {
        "tag": tag,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": history,
        "best": best or {},
    }
    with atomic_path(path, immediate=True) as tmp:  # resumable now, not when the step ends
        torch.save(state, tmp)


def load_checkpoint(
    path: str, model, optimizer, rng: np.random.Generator, tag: str, best: dict | None = None
) -> tuple[int, list]:
    """Restore a checkpoint into ``model``/``optimizer``/``rng``; (0, []) when there is none.

    ``tag`` identifies the run's settings: a checkpoint of other settings is not resumed.
    ``best`` (a dict) receives the best weights the run had kept, if any.
    """
    if not os.path.exists(path):
        return 0, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # writes are atomic, so this is not our checkpoint: never overwrite it
        raise HarnessError(
            f"checkpoint {path} is not a checkpoint this step wrote ({type(err).__name__}); "
            "remove it or give another --checkpoint"
        ) from None
    if not isinstance(state, dict) or "tag" not in state:
        raise HarnessError(
            f"checkpoint {path} is not a checkpoint this step wrote; remove it or give another"
        )
    if state.get("tag") != tag:
        LOG.warning("checkpoint %s is from other settings: starting from step 0", path)
        return 0, []
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, KeyError, ValueError) as err:
        raise HarnessError(f"checkpoint {path} does not fit the model: {err}") from None
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if best is not None:
        best.update(state.get("best") or {})
    LOG.info("resumed from %s at step %d", path, state["step"])
    return int(state["step"]), list(state["history"])
