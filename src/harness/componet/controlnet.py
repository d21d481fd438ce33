"""The CompoNet adapter (thesis 6.5): a ControlNet on the U-Net of an AudioLDM2-family latent
diffusion model.

The U-Net is eps_phi = D o B o E (decoder, bottleneck, encoder). The adapter is a trainable copy
of E and B fed with the noisy latent plus a zero-initialised convolution of the latent w of the
input sub-mix (the thesis's C_psi(z_t, s, t, w) = E(z_t + conv_in(w), s, t)); each of its skip
features and its bottleneck output passes a zero-initialised 1x1 convolution conv_i and is added
to the frozen U-Net's own (E^i_{phi_E,psi} = E^i_{phi_E} + conv_i(C^i_psi), the equation above
6.20). At initialisation every conv_i is zero, so the controlled model is exactly the base model.

diffusers' ``ControlNetModel`` copies a ``UNet2DConditionModel``, whose blocks take one
cross-attention input; AudioLDM2's ``AudioLDM2UNet2DConditionModel`` takes two
(``encoder_hidden_states`` and ``encoder_hidden_states_1``) and its forward accepts no extra
residuals. So the adapter copies that U-Net's own encoder blocks, and the residuals enter the
frozen U-Net through hooks on its up blocks' skip inputs and its mid block's output: the places
diffusers adds ``down_block_additional_residuals`` and ``mid_block_additional_residual``
(a test checks the two give the same output on a ``UNet2DConditionModel``)."""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn


def zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def _mask_bias(mask: torch.Tensor | None, dtype) -> torch.Tensor | None:
    """A keep(1)/discard(0) token mask as the additive bias the U-Net's blocks take."""
    return None if mask is None else ((1 - mask.to(dtype)) * -10000.0).unsqueeze(1)


def skip_channels(unet: nn.Module) -> list[int]:
    """Channels of each skip feature the U-Net's encoder hands its decoder: conv_in's output,
    then one per resnet and per downsampler of each down block."""
    channels = [unet.conv_in.out_channels]
    for block in unet.down_blocks:
        out = block.resnets[-1].out_channels
        channels += [out] * (len(block.resnets) + (1 if block.downsamplers else 0))
    return channels


class CompoNetAdapter(nn.Module):
    """C_psi: a trainable copy of the U-Net's time embedding, conv_in, encoder and bottleneck,
    with the zero-initialised input convolution of w and output convolutions conv_i."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        for name in ("time_proj", "time_embedding", "conv_in", "down_blocks", "mid_block"):
            setattr(self, name, copy.deepcopy(getattr(unet, name)))
        self.time_embed_act = copy.deepcopy(getattr(unet, "time_embed_act", None))
        channels = unet.config.in_channels
        self.cond_in = zero_module(nn.Conv2d(channels, channels, 3, padding=1))
        self.zero_convs = nn.ModuleList(zero_module(nn.Conv2d(c, c, 1)) for c in skip_channels(unet))
        mid = unet.down_blocks[-1].resnets[-1].out_channels
        self.zero_mid = zero_module(nn.Conv2d(mid, mid, 1))

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        w: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        encoder_hidden_states_1: torch.Tensor | None = None,
        encoder_attention_mask_1: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(the residual of every skip feature, the residual of the bottleneck)."""
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        emb = self.time_embedding(self.time_proj(timestep).to(sample.dtype))
        if self.time_embed_act is not None:
            emb = self.time_embed_act(emb)
        cross = {
            "encoder_hidden_states": encoder_hidden_states,
            "encoder_attention_mask": _mask_bias(encoder_attention_mask, sample.dtype),
        }
        if encoder_hidden_states_1 is not None:  # AudioLDM2's second cross-attention input
            cross["encoder_hidden_states_1"] = encoder_hidden_states_1
            cross["encoder_attention_mask_1"] = _mask_bias(encoder_attention_mask_1, sample.dtype)
        h = self.conv_in(sample + self.cond_in(w))
        skips = [h]
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                h, res = block(hidden_states=h, temb=emb, **cross)
            else:
                h, res = block(hidden_states=h, temb=emb)
            skips += list(res)
        h = self.mid_block(h, emb, **cross)
        return [conv(s) for conv, s in zip(self.zero_convs, skips)], self.zero_mid(h)


@contextmanager
def controlled(unet: nn.Module, skips: list[torch.Tensor], mid: torch.Tensor):
    """Within the block, ``unet``'s forward adds ``skips`` to its skip features (as its up blocks
    read them) and ``mid`` to its bottleneck output."""
    pending = list(skips)

    def add_skips(_module, args, kwargs):
        n = len(kwargs["res_hidden_states_tuple"])
        extra = pending[-n:]
        del pending[-n:]
        kwargs["res_hidden_states_tuple"] = tuple(
            r + e for r, e in zip(kwargs["res_hidden_states_tuple"], extra)
        )
        return args, kwargs

    hooks = [b.register_forward_pre_hook(add_skips, with_kwargs=True) for b in unet.up_blocks]
    hooks.append(unet.mid_block.register_forward_hook(lambda _m, _a, out: out + mid))
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
    if pending:
        raise RuntimeError(f"{len(pending)} ControlNet residuals were not used: does the U-Net match?")


class CompoNet(nn.Module):
    """eps_{phi,psi}(z_t, s, t, w): the frozen U-Net with the adapter's residuals added."""

    def __init__(self, unet: nn.Module, adapter: CompoNetAdapter | None = None):
        super().__init__()
        self.unet = unet.requires_grad_(False)
        self.adapter = adapter if adapter is not None else CompoNetAdapter(unet)

    def forward(self, sample, timestep, w, **cond) -> torch.Tensor:
        skips, mid = self.adapter(sample, timestep, w, **cond)
        with controlled(self.unet, skips, mid):
            return self.unet(sample, timestep, return_dict=False, **cond)[0]
