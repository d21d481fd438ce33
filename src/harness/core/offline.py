"""Nothing in a step may contact a model hub or a dataset host: the variables that make the
libraries stay offline (set before they are imported; `import frechet_audio_distance` without
them retries a hub request for minutes, see shared/reference/dependencies.md)."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DVC_NO_ANALYTICS": "1",
    "WANDB_MODE": "offline",
}


def go_offline() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    # every torch.load of the process loads weights only, a library's call with
    # weights_only=False included: a pickle in a checkpoint or an encoder file never runs code
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
