"""Thesis scale: AudioLDM 2 as CompoNet's base (thesis 6.5 uses AudioLDM 2-Large), through
diffusers' ``AudioLDM2Pipeline`` loaded from a local ``save_pretrained`` directory (nothing is
fetched at run time). Nothing of it trains: its VAE and HiFi-GAN vocoder are the codec, its CLAP /
Flan-T5 / GPT-2 prompt encoders give the U-Net's two cross-attention inputs, its DDIM schedule is
the schedule, and the ControlNet adapter is the only trainable part.

The pipeline only generates, so the audio -> latent direction is written here as AudioLDM's own
front end computes it: a magnitude STFT (n_fft 1024, the vocoder's hop), Slaney mel filters up to
Nyquist, and log(max(mel, 1e-5)), laid out [time, mel] as the VAE's one-channel image."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.componet.base import PromptBank, Schedule
from harness.componet.latent import MelSettings
from harness.core.errors import HarnessError
from harness.core.packages import resolve_path


def load_pipeline(path: str):
    """The ``AudioLDM2Pipeline`` saved in ``path`` (a directory or ``pkg:module/dir``)."""
    folder = Path(resolve_path(path))
    if not (folder / "model_index.json").is_file():
        raise HarnessError(
            f"{folder}: no AudioLDM2 pipeline saved there (model_index.json is missing; "
            "save one with AudioLDM2Pipeline.save_pretrained, see the README)"
        )
    from diffusers import AudioLDM2Pipeline

    try:
        pipe = AudioLDM2Pipeline.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise HarnessError(
            f"{folder}: not a loadable AudioLDM2 pipeline ({str(err).splitlines()[0]})"
        ) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def check_mel(pipe, mel: MelSettings, where: str) -> None:
    """The configured mel front end must be the one the pipeline's vocoder inverts."""
    v = pipe.vocoder.config
    theirs = {"sample_rate": v.sampling_rate, "hop": int(np.prod(v.upsample_rates)), "n_mels": v.model_in_dim}
    ours = {k: getattr(mel, k) for k in theirs}
    if ours != theirs:
        raise HarnessError(f"{where}: the mel settings {ours} are not the AudioLDM2 pipeline's {theirs}")
    factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1) * 2 ** (
        len(pipe.unet.config.block_out_channels) - 1
    )
    if mel.frames % factor or mel.n_mels % factor:
        raise HarnessError(f"{where}: frames and mel bins must be multiples of {factor} for this pipeline")


class PipelineCodec(nn.Module):
    """Audio <-> AudioLDM2 latent: AudioLDM's log-mel, the pipeline's VAE (``scaling_factor``
    applied, as the pipeline does) and its vocoder; the same interface as ``LatentCodec``."""

    def __init__(self, pipe, mel: MelSettings, source: str):
        super().__init__()
        from torchaudio.transforms import MelSpectrogram

        check_mel(pipe, mel, source)
        self.mel_settings = mel
        self.source = source
        self.vae, self.vocoder = pipe.vae, pipe.vocoder
        self.stft = MelSpectrogram(
            mel.sample_rate, n_fft=mel.n_fft, hop_length=mel.hop, n_mels=mel.n_mels, f_min=0.0,
            f_max=mel.sample_rate / 2, power=1.0, norm="slaney", mel_scale="slaney",
        )  # fmt: skip
        self.register_buffer("scale", torch.tensor(float(pipe.vae.config.scaling_factor)))

    def config(self) -> dict:
        return {"mel": asdict(self.mel_settings), "pipeline": self.source}

    def logmel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, samples] -> [B, 1, frames, n_mels] log-mel images."""
        spec = self.stft(audio)[..., : self.mel_settings.frames]
        return torch.log(spec.clamp_min(1e-5)).transpose(1, 2).unsqueeze(1)

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, sample: bool = False) -> torch.Tensor:
        audio = audio.to(self.scale.device)
        posterior = self.vae.encode(self.logmel(audio)).latent_dist
        return (posterior.sample() if sample else posterior.mode()) * self.scale

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> [B, samples] audio (VAE decoder, then the HiFi-GAN vocoder)."""
        mel = self.vae.decode(latent / self.scale).sample
        audio = self.vocoder(mel.squeeze(1)).float()
        n = self.mel_settings.samples
        return torch.nn.functional.pad(audio, (0, max(0, n - audio.shape[-1])))[..., :n]


@torch.no_grad()
def pipeline_prompts(pipe, texts: list[str]) -> PromptBank:
    """Every prompt (and the empty one) through the pipeline's own ``encode_prompt``: the GPT-2
    states for the U-Net's first cross-attention, the Flan-T5 states and mask for its second."""
    texts = sorted(set(texts) | {""})
    embeds, mask, generated = pipe.encode_prompt(
        texts, device=pipe.device, num_waveforms_per_prompt=1, do_classifier_free_guidance=False
    )
    return PromptBank(
        texts,
        {
            "encoder_hidden_states": generated.cpu(),
            "encoder_hidden_states_1": embeds.cpu(),
            "encoder_attention_mask_1": mask.cpu(),
        },
    )


def pipeline_schedule(pipe, sample_steps: int) -> Schedule:
    """The pipeline's noise schedule (AudioLDM2: scaled-linear betas, epsilon prediction)."""
    c = pipe.scheduler.config
    if c.get("beta_schedule") != "scaled_linear" or c.get("prediction_type", "epsilon") != "epsilon":
        raise HarnessError(
            f"the pipeline's scheduler ({c.get('beta_schedule')}, {c.get('prediction_type')}) is not "
            "AudioLDM2's scaled-linear epsilon schedule"
        )
    return Schedule(int(c["num_train_timesteps"]), float(c["beta_start"]), float(c["beta_end"]), sample_steps)


def unet_config(pipe, source: str) -> dict:
    """What identifies the pipeline's U-Net in an adapter's file: its directory and config."""
    config = {k: v for k, v in dict(pipe.unet.config).items() if not k.startswith("_")}
    return {"pipeline": source, "config": repr(sorted(config.items()))}
