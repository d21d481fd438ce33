"""The 1-D U-Net of MSDM: audio-diffusion-pytorch's ``UNetV0`` layout (the network family of the
original code), built from its a-unet blocks and configured by a plain mapping, so the embedded
and thesis scales share one constructor.

Why this class: it is the original's, it patches the waveform in its first level (a large first
factor keeps attention affordable at 2^18 samples), it takes the noise level as a number it
embeds itself (FiLM-style modulation of every ResNet block), and it runs unchanged on CPU and
GPU. diffusers' ``UNet1DModel`` has no patching and a fixed Dance-Diffusion layout.

One setting differs from ``UNetV0``'s fixed choice: ``upsample`` ("transpose" by default, as the
original MSDM's ``use_nearest_upsample: False``). ``UNetV0`` always upsamples by nearest
neighbour and a 3-tap convolution, so after a first factor of 4 its output is smooth within each
block of 4 samples: it cannot predict the sample-level noise a denoiser must remove at small
sigma, and at the embedded scale its denoiser added error below sigma = 0.04 (samples grew
louder than the data and separation failed). A transposed convolution makes every output
sample free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UNetSettings:
    channels: tuple[int, ...]  # per level; the first level's factor patches the waveform
    factors: tuple[int, ...]  # down-sampling per level
    items: tuple[int, ...]  # ResNet blocks per level
    attentions: tuple[int, ...]  # 1: self-attention at that level
    attention_heads: int
    attention_features: int
    modulation_features: int
    upsample: str = "transpose"  # or "nearest" (UNetV0's)

    @classmethod
    def from_dict(cls, spec: dict) -> UNetSettings:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        settings = cls(**fields)
        n = len(settings.channels)
        if not (len(settings.factors) == len(settings.items) == len(settings.attentions) == n):
            raise ValueError("unet channels, factors, items and attentions must have one entry per level")
        return settings

    @property
    def multiple(self) -> int:
        """Input lengths must be multiples of this (the product of the factors)."""
        return math.prod(self.factors)


class UNet1d(nn.Module):
    """``UNetV0`` over ``in_channels`` stacked sources; forward(x, c_noise) -> same shape.

    With ``embedding_features`` the net is conditional (GMSDI's text-conditioned model, eq. 2.9):
    forward(x, c_noise, embedding) maps the embedding [B, embedding_features] by a linear layer to
    the modulation features and adds it to those of the noise level, so it modulates every ResNet
    block as sigma does. ``embedding=None`` takes the learned null embedding (the fixed embedding
    of classifier-free guidance, trained by dropping the condition)."""

    def __init__(self, in_channels: int, settings: UNetSettings, embedding_features: int | None = None):
        super().__init__()
        from a_unet import TimeConditioningPlugin
        from a_unet.apex import AttentionItem, ModulationItem, ResnetItem, SkipModulate, XBlock, XUNet

        self.settings = settings
        self.in_channels = in_channels
        # UNetV0's construction (audio_diffusion_pytorch.components.UNetV0), upsampling chosen
        self.unet = TimeConditioningPlugin(XUNet)(
            dim=1,
            in_channels=in_channels,
            blocks=[
                XBlock(channels=c, factor=f, items=([ResnetItem, ModulationItem] + [AttentionItem] * a) * n)
                for c, f, n, a in zip(
                    settings.channels, settings.factors, settings.items, settings.attentions
                )
            ],
            skip_t=SkipModulate,
            attention_features=settings.attention_features,
            attention_heads=settings.attention_heads,
            modulation_features=settings.modulation_features,
            resnet_groups=8,
            upsample_mode=settings.upsample,
        )

        self.embedding_features = embedding_features
        if embedding_features:
            self.null = nn.Parameter(torch.zeros(embedding_features))
            self.condition = nn.Linear(embedding_features, settings.modulation_features)

    def forward(
        self, x: torch.Tensor, c_noise: torch.Tensor, embedding: torch.Tensor | None = None,
        drop: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """``drop`` [B] (bool): items whose embedding is replaced by the null embedding (the
        condition dropout of classifier-free guidance training)."""
        if not self.embedding_features:
            if embedding is not None:
                raise ValueError("an unconditional U-Net was given an embedding")
            return self.unet(x, time=c_noise)
        null = self.null.expand(x.shape[0], -1)
        if embedding is None:
            embedding = null
        elif drop is not None:
            embedding = torch.where(drop.view(-1, 1), null, embedding.to(null.dtype))
        return self.unet(x, time=c_noise, features=self.condition(embedding.to(x.dtype)))

    def spec(self) -> dict:
        return {"in_channels": self.in_channels, "unet": asdict(self.settings),
                "embedding_features": self.embedding_features}  # fmt: skip


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int]:
    """Zero-pad the last axis to a multiple of ``multiple``; returns (padded, original length)."""
    n = x.shape[-1]
    extra = (-n) % multiple
    return (torch.nn.functional.pad(x, (0, extra)) if extra else x), n
