"""The files of the diffusion models: a ``config`` and the EMA weights of a denoiser.

A config names the ``stems`` a model covers, whether it models their ``mixture`` (one channel),
``sigma_data``, the U-Net settings and, for a conditional model (GMSDI), ``embedding_features``
(the size of the text or audio embedding it is conditioned on). MSDM models the stems as channels;
an ISDM stem model, the mixture model and GMSDI's model have one channel. Every family that trains
or samples a diffusion model reads and writes this one format, so a model passes between families
as a file."""

from __future__ import annotations

import copy

from torch import nn

from harness.diffusion.edm import EDMDenoiser
from harness.diffusion.unet import UNet1d, UNetSettings, pad_to_multiple
from harness.train.files import build_model, save_state

KIND = "msdm_diffusion"  # the tag every diffusion model file carries (MSDM wrote the first ones)


def channels(config: dict) -> int:
    return 1 if config["mixture"] else len(config["stems"])


def make_denoiser(config: dict) -> EDMDenoiser:
    net = UNet1d(channels(config), UNetSettings.from_dict(config["unet"]), config.get("embedding_features"))
    return EDMDenoiser(net, float(config["sigma_data"]))


class Training(nn.Module):
    """What a training run checkpoints: the denoiser and the EMA of its weights."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.denoiser = make_denoiser(config)
        self.ema = copy.deepcopy(self.denoiser).requires_grad_(False)


class Loss(nn.Module):
    """The EDM loss as a module's forward, so data-parallel wrappers see the computation
    (``condition``: a conditional net's ``embedding`` and ``drop`` per item)."""

    def __init__(self, denoiser: EDMDenoiser):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, clean, noise, sigma, **condition):
        return self.denoiser.loss(clean, noise, sigma, **condition).mean()


def save_model(path: str, training: Training, extra: dict | None = None) -> None:
    """The EMA weights and the config (and ``extra`` entries, e.g. GMSDI's prompt embeddings)."""
    save_state(
        path, KIND, {"config": training.config, "state_dict": training.ema.state_dict(), **(extra or {})}
    )


def load_model(path: str, device: str = "cpu") -> tuple[EDMDenoiser, dict]:
    """(denoiser with the EMA weights, config) of a model file."""
    holder = {}

    def make(config):
        holder["config"] = config
        return make_denoiser(config)

    model = build_model(path, KIND, "diffusion model", make)
    return model.to(device).eval().requires_grad_(False), holder["config"]


class Padded(nn.Module):
    """A denoiser on any length: the input is zero-padded to the U-Net's multiple."""

    def __init__(self, denoiser: EDMDenoiser):
        super().__init__()
        self.denoiser = denoiser
        self.multiple = denoiser.net.settings.multiple

    def forward(self, x, sigma, **kwargs):
        padded, n = pad_to_multiple(x, self.multiple)
        return self.denoiser(padded, sigma, **kwargs)[..., :n]
