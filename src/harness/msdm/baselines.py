"""Supervised separators trained by the DAG on the same stems (Table 6.2's Demucs row, and
Table 5.5 later): torchaudio's ``HDemucs`` and ``ConvTasNet`` model classes, an L1 waveform loss,
the shared resumable loop. They map a mixture [B, 1, L] to the stems [B, N, L]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.core.errors import HarnessError
from harness.msdm.data import random_crops
from harness.train.checkpoint import seed_everything
from harness.train.files import build_model, save_state
from harness.train.loop import RunFiles, finish_run, train_steps

KIND = "msdm_supervised"
ARCHES = ("hdemucs", "convtasnet")


@dataclass(frozen=True)
class SupervisedSettings:
    sample_rate: int
    crop: int
    lr: float
    batch_size: int
    steps: int
    checkpoint_every: int
    log_every: int
    hdemucs: dict  # torchaudio.models.HDemucs keyword arguments (sources and channels are set here)
    convtasnet: dict  # torchaudio.models.ConvTasNet keyword arguments


class Separator(nn.Module):
    def __init__(self, arch: str, n_sources: int, kwargs: dict):
        super().__init__()
        from torchaudio.models import ConvTasNet, HDemucs

        self.arch = arch
        if arch == "hdemucs":
            self.net = HDemucs(sources=[str(i) for i in range(n_sources)], audio_channels=1, **kwargs)
        elif arch == "convtasnet":
            self.net = ConvTasNet(num_sources=n_sources, **kwargs)
        else:
            raise HarnessError(f"unknown separator {arch!r} (one of {', '.join(ARCHES)})")

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        out = self.net(mixture)
        return out[:, :, 0] if self.arch == "hdemucs" else out[..., : mixture.shape[-1]]


def train_separator(
    arch: str, tracks: list[np.ndarray], stems: list[str], settings: SupervisedSettings, seed: int,
    files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    rng = seed_everything(seed)
    kwargs = getattr(settings, arch)
    model = Separator(arch, len(stems), kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)

    def step_fn(step_rng):
        clean = torch.from_numpy(random_crops(tracks, settings.batch_size, settings.crop, step_rng)).to(
            device
        )
        return (model(clean.sum(1, keepdim=True)) - clean).abs().mean()

    tag = repr((arch, stems, settings, seed))
    history, finished = train_steps(model, optimizer, step_fn, settings.steps, rng, files.checkpoint, tag,
                                    settings.log_every, stop_after=stop_after, desc=arch,
                                    checkpoint_every=settings.checkpoint_every)  # fmt: skip
    if not finished:
        return False
    config = {"arch": arch, "stems": stems, "kwargs": kwargs, "sample_rate": settings.sample_rate}
    save_state(files.model, KIND, {"config": config, "state_dict": model.state_dict()})
    meta = {"arch": arch, "stems": stems, "parameters": sum(p.numel() for p in model.parameters()),
            "steps": settings.steps}  # fmt: skip
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint, ["step", "train_loss"])
    return True


def load_separator(path: str, device: str) -> tuple[Separator, dict]:
    holder = {}

    def make(config):
        holder["config"] = config
        return Separator(config["arch"], len(config["stems"]), config["kwargs"])

    model = build_model(path, KIND, "supervised separator", make)
    return model.to(device).eval(), holder["config"]


@torch.no_grad()
def separate_supervised(model: Separator, mixtures: torch.Tensor, batch: int = 4) -> torch.Tensor:
    return torch.cat([model(mixtures[i : i + batch]) for i in range(0, len(mixtures), batch)])
