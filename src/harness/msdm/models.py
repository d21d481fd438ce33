"""The diffusion models of the chapter and their files.

A model file holds its ``config`` (the stems it models, whether it models their ``mixture``,
sigma_data, the U-Net settings) and the EMA weights of its denoiser. MSDM models the N stems as
channels; an ISDM stem model and the mixture model have one channel."""

from __future__ import annotations

import copy

import torch
from torch import nn

from harness.core.errors import HarnessError
from harness.diffusion.edm import EDMDenoiser
from harness.diffusion.unet import UNet1d, UNetSettings, pad_to_multiple
from harness.train.files import build_model, save_state

KIND = "msdm_diffusion"


def make_denoiser(config: dict) -> EDMDenoiser:
    channels = 1 if config["mixture"] else len(config["stems"])
    net = UNet1d(channels, UNetSettings.from_dict(config["unet"]))
    return EDMDenoiser(net, float(config["sigma_data"]))


class Training(nn.Module):
    """What a training run checkpoints: the denoiser and the EMA of its weights."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.denoiser = make_denoiser(config)
        self.ema = copy.deepcopy(self.denoiser).requires_grad_(False)


class Loss(nn.Module):
    """The EDM loss as a module's forward, so data-parallel wrappers see the computation."""

    def __init__(self, denoiser: EDMDenoiser):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, clean, noise, sigma):
        return self.denoiser.loss(clean, noise, sigma).mean()


def save_model(path: str, training: Training) -> None:
    save_state(path, KIND, {"config": training.config, "state_dict": training.ema.state_dict()})


def load_model(path: str, device: str = "cpu") -> tuple[EDMDenoiser, dict]:
    """(denoiser with the EMA weights, config) of a model file."""
    holder = {}

    def make(config):
        holder["config"] = config
        return make_denoiser(config)

    model = build_model(path, KIND, "MSDM model", make)
    return model.to(device).eval().requires_grad_(False), holder["config"]


class Padded(nn.Module):
    """A denoiser on any length: the input is zero-padded to the U-Net's multiple."""

    def __init__(self, denoiser: EDMDenoiser):
        super().__init__()
        self.denoiser = denoiser
        self.multiple = denoiser.net.settings.multiple

    def forward(self, x, sigma):
        padded, n = pad_to_multiple(x, self.multiple)
        return self.denoiser(padded, sigma)[..., :n]


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
