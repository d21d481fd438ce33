"""Model files: ``torch.save`` of a dict tagged with its kind, written atomically and read back
with ``weights_only=True``; a missing, unreadable or foreign file stops with one line."""

from __future__ import annotations

import os

import torch

from harness.core.atomic import atomic_path
from harness.core.errors import HarnessError


def save_state(path: str, kind: str, state: dict) -> None:
    """Write a model (or counts) file atomically, tagged with its kind."""
    with atomic_path(path) as tmp:
        torch.save({"kind": kind, **state}, tmp)


def load_state(path: str, kind: str, what: str) -> dict:
    """Read a file written by ``save_state``; a missing, unreadable or foreign file stops with
    one line naming ``what`` it should have been."""
    if not os.path.isfile(path):
        raise HarnessError(f"{what} {path} not found (run its rule)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise HarnessError(f"{path}: not a readable {what} file ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("kind") != kind:
        raise HarnessError(f"{path} is not a {what} file")
    return state


def build_model(path: str, kind: str, what: str, make):
    """The model of a file holding ``config`` and ``state_dict``: ``make(config)`` builds it; a
    file of the right kind but a foreign config or state stops with one line."""
    state = load_state(path, kind, what)
    try:
        model = make(state["config"])
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise HarnessError(
            f"{path}: {what} config or weights do not fit ({' '.join(str(err).split())[:120]})"
        ) from None
    return model
