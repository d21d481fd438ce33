"""Supervised separators the DAG trains (torchaudio's ``HDemucs`` and ``ConvTasNet`` model
classes), shared by the families that compare against them: MSDM's Table 6.2 and LASS's Table
5.5. ``harness msdm train-supervised`` trains and saves one; any family loads the file here and
applies it. A separator maps a mixture [B, 1, L] (the sum of its stems) to the stems [B, N, L]."""

from __future__ import annotations

import torch
from torch import nn

from harness.core.errors import HarnessError
from harness.train.files import build_model

KIND = "msdm_supervised"  # the file kind (written first by the MSDM family)
ARCHES = ("hdemucs", "convtasnet")


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
