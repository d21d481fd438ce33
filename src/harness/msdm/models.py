"""The separators of the chapter over the shared diffusion model files (``harness.diffusion.models``):
MSDM models the N stems as channels of one file; ISDM is one single-stem file per stem."""

from __future__ import annotations

import torch
from torch import nn

from harness.core.errors import HarnessError
from harness.diffusion.models import Padded, load_model


class Independent(nn.Module):
    """ISDM: one single-stem denoiser per source, applied to its own channel."""

    def __init__(self, denoisers: list[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(denoisers)

    def forward(self, x, sigma):
        return torch.cat([d(x[:, i : i + 1], sigma) for i, d in enumerate(self.parts)], dim=1)


def load_separator(paths: list[str], device: str) -> tuple[nn.Module, list[str], int]:
    """(the denoiser over the stacked stems, the stems, the sample rate): one MSDM file, or one
    ISDM file per stem."""
    loaded = [load_model(p, device) for p in paths]
    rates = {c["sample_rate"] for _, c in loaded}
    if len(rates) > 1:
        raise HarnessError(f"the models were trained at different sample rates {sorted(rates)}")
    if len(loaded) == 1 and not loaded[0][1]["mixture"] and len(loaded[0][1]["stems"]) > 1:
        return Padded(loaded[0][0]), list(loaded[0][1]["stems"]), rates.pop()
    stems = []
    for path, (_, config) in zip(paths, loaded):
        if config["mixture"] or len(config["stems"]) != 1:
            raise HarnessError(f"{path}: not a single-stem (ISDM) model; give one MSDM model or one per stem")
        stems.append(config["stems"][0])
    if len(set(stems)) != len(stems):
        raise HarnessError(f"ISDM models repeat a stem: {stems}")
    return Independent([Padded(d) for d, _ in loaded]), stems, rates.pop()
