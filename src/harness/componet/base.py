"""CompoNet's base: a text-conditioned latent diffusion model eps_phi(z_t, s, t) of sub-mixes in
diffusers' AudioLDM2 classes, trained with DDPM (eqs. 6.18-6.19), and the prompt encodings s.

Thesis scale: AudioLDM 2-Large (its U-Net, VAE, vocoder and prompt encoders) is the base and is
not trained here. Embedded: the DAG trains a small ``AudioLDM2UNet2DConditionModel`` on the VAE
latents of random sub-mixes of the datasets, each captioned with the tags of its stems, and the
prompts are encoded by all-MiniLM-L6-v2 (it ships offline) token by token for cross-attention.
Every prompt a model can be given is encoded once and stored in its file (``PromptBank``), so
training and sampling need no text encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.core.errors import HarnessError
from harness.core.logs import progress


class PromptBank:
    """Prompt text -> the U-Net's cross-attention inputs, as named tensors (one row per prompt,
    each padded to one length). An empty prompt is the unconditional one (classifier-free
    guidance). Embedded: ``encoder_hidden_states`` [L, D] and ``encoder_attention_mask`` [L] of
    one text encoder; AudioLDM2 adds its second input (``encoder_hidden_states_1`` and its mask)."""

    def __init__(self, texts: list[str], tensors: dict[str, torch.Tensor]):
        self.texts = list(texts)
        self.index = {t: i for i, t in enumerate(self.texts)}
        self.tensors = {k: v.long() if "mask" in k else v.float() for k, v in tensors.items()}
        if any(len(v) != len(self.texts) for v in self.tensors.values()):
            raise HarnessError(f"a prompt bank of {len(self.texts)} texts has tensors of other lengths")

    @classmethod
    def encode(cls, encoder: str, texts: list[str]) -> PromptBank:
        """Token states of a transformers text encoder (a local directory)."""
        from harness.diffusion.text import encode_tokens

        texts = sorted(set(texts) | {""})
        hidden, mask = encode_tokens(encoder, texts)
        return cls(texts, {"encoder_hidden_states": hidden, "encoder_attention_mask": mask})

    def state(self) -> dict:
        return {"texts": self.texts, "tensors": self.tensors}

    @classmethod
    def from_state(cls, state: dict) -> PromptBank:
        return cls(state["texts"], state["tensors"])

    @property
    def features(self) -> int:
        return int(self.tensors["encoder_hidden_states"].shape[-1])

    def condition(self, texts: list[str], device="cpu") -> dict[str, torch.Tensor]:
        """The U-Net's cross-attention inputs for a batch of prompts."""
        unknown = [t for t in texts if t not in self.index]
        if unknown:
            raise HarnessError(f"the model has no prompt {unknown[0]!r} ({len(self.texts)} known)")
        idx = torch.tensor([self.index[t] for t in texts])
        return {k: v[idx].to(device) for k, v in self.tensors.items()}


def make_unet(config: dict, latent_channels: int, features: int) -> nn.Module:
    """A small AudioLDM2 U-Net: plain resnet blocks at full latent resolution, cross-attention
    to the prompt's tokens below it."""
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import AudioLDM2UNet2DConditionModel

    blocks = list(config["block_out_channels"])
    down = ["DownBlock2D"] + ["CrossAttnDownBlock2D"] * (len(blocks) - 1)
    up = ["CrossAttnUpBlock2D"] * (len(blocks) - 1) + ["UpBlock2D"]
    return AudioLDM2UNet2DConditionModel(
        in_channels=latent_channels,
        out_channels=latent_channels,
        block_out_channels=blocks,
        down_block_types=down,
        up_block_types=up,
        layers_per_block=config["layers_per_block"],
        cross_attention_dim=features,
        attention_head_dim=config["attention_head_dim"],
        norm_num_groups=config["norm_num_groups"],
    )


@dataclass(frozen=True)
class Schedule:
    """AudioLDM2's DDPM noise schedule (scaled linear betas over 1,000 steps) and the DDIM
    sampler's step count."""

    train_steps: int
    beta_start: float
    beta_end: float
    sample_steps: int

    def ddpm(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler(
            num_train_timesteps=self.train_steps,
            beta_start=self.beta_start,
            beta_end=self.beta_end,
            beta_schedule="scaled_linear",
            clip_sample=False,  # latents are not images in [-1, 1]
        )

    def ddim(self):
        from diffusers import DDIMScheduler

        scheduler = DDIMScheduler(
            num_train_timesteps=self.train_steps,
            beta_start=self.beta_start,
            beta_end=self.beta_end,
            beta_schedule="scaled_linear",
            set_alpha_to_one=False,
            clip_sample=False,
        )
        scheduler.set_timesteps(self.sample_steps)
        return scheduler


def noised(
    scheduler, z: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 6.18: (z_t, t, eps) for uniform t and eps ~ N(0, I)."""
    t = torch.randint(0, scheduler.config.num_train_timesteps, (z.shape[0],), generator=generator)
    eps = torch.randn(z.shape, generator=generator)
    return scheduler.add_noise(z, eps, t), t, eps


def denoising_loss(eps_hat: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Eq. 6.19: || eps - eps_phi(z_t, s, t) ||^2, averaged."""
    return torch.mean((eps - eps_hat) ** 2)


@torch.no_grad()
def ddim_sample(
    eps_fn, shape, schedule: Schedule, guidance: float, generator: torch.Generator, device="cpu"
) -> torch.Tensor:
    """z_0 by DDIM from z_T ~ N(0, I); ``eps_fn(z_t, t, conditional)`` is the model with (True)
    or without (False) its prompt, combined by classifier-free guidance with weight ``guidance``
    (section 2.2.2's w; 0: the conditional model alone)."""
    from harness.diffusion.scores import classifier_free_guidance

    scheduler = schedule.ddim()
    z = torch.randn(shape, generator=generator).to(device)
    for t in progress(scheduler.timesteps, desc="ddim", leave=False):
        eps = eps_fn(z, t, True)
        if guidance:
            eps = classifier_free_guidance(eps, eps_fn(z, t, False), guidance)
        z = scheduler.step(eps, t, z).prev_sample
    return z
