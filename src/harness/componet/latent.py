"""The latent space of CompoNet's base model, as in AudioLDM2: audio -> log-mel spectrogram ->
VAE latent z = E_VAE(m) (a diffusers ``AutoencoderKL`` over the [time, mel] image), and back
through the VAE decoder and a vocoder.

Thesis scale: AudioLDM 2-Large's own VAE and HiFi-GAN vocoder (``AudioLDM2Pipeline`` from a local
``save_pretrained`` directory, 16 kHz, 64 mel bins, hop 160). Embedded: no AudioLDM2 weights can be
had offline, so the DAG trains a small ``AutoencoderKL`` on the dataset's log-mels, and Griffin-Lim
(torchaudio) stands in for the vocoder: both named in every table as what they are."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from harness.core.errors import HarnessError


@dataclass(frozen=True)
class MelSettings:
    sample_rate: int
    n_fft: int
    hop: int
    n_mels: int
    frames: int  # mel frames per chunk (a multiple of the VAE's and U-Net's downsampling)

    @property
    def samples(self) -> int:
        """Audio samples of one chunk (frames x hop)."""
        return self.frames * self.hop


class LogMel(nn.Module):
    """[B, samples] audio -> [B, 1, frames, n_mels] log-mel images, standardised by ``mean`` and
    ``std`` (the training set's, stored with the model); ``invert`` is Griffin-Lim."""

    def __init__(
        self, settings: MelSettings, mean: float = 0.0, std: float = 1.0, griffin_lim_iters: int = 64
    ):
        super().__init__()
        from torchaudio.transforms import GriffinLim, InverseMelScale, MelSpectrogram

        s = settings
        self.settings = s
        self.mel = MelSpectrogram(s.sample_rate, n_fft=s.n_fft, hop_length=s.hop, n_mels=s.n_mels, power=1.0)
        self.inverse = InverseMelScale(s.n_fft // 2 + 1, s.n_mels, s.sample_rate)
        self.griffin_lim = GriffinLim(s.n_fft, hop_length=s.hop, power=1.0, n_iter=griffin_lim_iters)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def raw(self, audio: torch.Tensor) -> torch.Tensor:
        """Unstandardised log-mel [B, 1, frames, n_mels] (a clamp at 1e-5 keeps silence finite)."""
        spec = self.mel(audio)[..., : self.settings.frames]  # [B, n_mels, frames]
        return torch.log(spec.clamp_min(1e-5)).transpose(1, 2).unsqueeze(1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return (self.raw(audio) - self.mean) / self.std

    @torch.no_grad()
    def invert(self, image: torch.Tensor) -> torch.Tensor:
        """[B, 1, frames, n_mels] standardised log-mels -> [B, samples] audio by Griffin-Lim."""
        spec = torch.exp(image.squeeze(1) * self.std + self.mean).transpose(1, 2)
        audio = self.griffin_lim(self.inverse(spec.clamp_min(0)))
        n = self.settings.samples
        return torch.nn.functional.pad(audio, (0, max(0, n - audio.shape[-1])))[..., :n]


def make_vae(config: dict) -> nn.Module:
    """A diffusers ``AutoencoderKL`` over one-channel mel images (AudioLDM2's VAE family)."""
    from diffusers import AutoencoderKL

    blocks = list(config["block_out_channels"])
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        latent_channels=config["latent_channels"],
        block_out_channels=blocks,
        down_block_types=["DownEncoderBlock2D"] * len(blocks),
        up_block_types=["UpDecoderBlock2D"] * len(blocks),
        layers_per_block=config["layers_per_block"],
        norm_num_groups=config["norm_num_groups"],
        sample_size=config["frames"],
        mid_block_add_attention=config.get("mid_attention", True),
    )


class LatentCodec(nn.Module):
    """Audio <-> VAE latent: log-mel, ``AutoencoderKL`` and Griffin-Lim. ``scale`` multiplies the
    latent (AudioLDM2's ``scaling_factor``: the training latents' inverse std)."""

    def __init__(self, mel: MelSettings, vae_config: dict, mean=0.0, std=1.0, scale=1.0):
        super().__init__()
        self.mel_settings = mel
        self.vae_config = dict(vae_config)
        self.logmel = LogMel(mel, mean, std)
        self.vae = make_vae({**vae_config, "frames": mel.frames})
        self.register_buffer("scale", torch.tensor(float(scale)))

    @property
    def factor(self) -> int:
        return 2 ** (len(self.vae_config["block_out_channels"]) - 1)

    def config(self) -> dict:
        return {"mel": asdict(self.mel_settings), "vae": self.vae_config}

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """[B, samples] -> [B, C, frames / f, n_mels / f] scaled latents (the posterior mode
        unless ``sample``)."""
        posterior = self.vae.encode(self.logmel(audio)).latent_dist
        return (posterior.sample() if sample else posterior.mode()) * self.scale

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> [B, samples] audio (VAE decoder, then Griffin-Lim)."""
        return self.logmel.invert(self.vae.decode(latent / self.scale).sample)


def check_rate(rate: int, mel: MelSettings, what: str) -> None:
    if rate != mel.sample_rate:
        raise HarnessError(
            f"{what} is at {rate} Hz but the CompoNet base model works at {mel.sample_rate} Hz"
        )


def vae_loss(vae: nn.Module, images: torch.Tensor, kl_weight: float) -> torch.Tensor:
    """Reconstruction (L1, as AudioLDM's VAE) plus a small KL to N(0, I) of the posterior."""
    posterior = vae.encode(images).latent_dist
    recon = vae.decode(posterior.sample()).sample
    return (recon - images).abs().mean() + kl_weight * posterior.kl().mean() / np.prod(images.shape[1:])
