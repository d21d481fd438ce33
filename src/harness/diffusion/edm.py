"""The EDM pieces of score-based diffusion, taken from k-diffusion where it has them.

Forward process (thesis eq. 2.4): x(sigma) = x(0) + sigma * eps. The network F is wrapped in
Karras's preconditioning (k-diffusion's ``Denoiser``)::

    D(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma)),
    c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),  c_noise = log(sigma) / 4,     sd = sigma_data,

so that the score of the noised data is (D(x, sigma) - x) / sigma^2. Training draws
log sigma ~ N(P_mean, P_std^2) (MSDM: LogNormal(-3, 1)) and minimises the preconditioned
denoising error.
"""

from __future__ import annotations

import torch
from k_diffusion.layers import Denoiser
from k_diffusion.sampling import get_sigmas_karras
from k_diffusion.utils import ema_update, rand_log_normal
from torch import nn

__all__ = ["EDMDenoiser", "NoiseLevel", "ema_update", "karras_sigmas", "training_sigmas"]


class NoiseLevel(nn.Module):
    """Feeds the network c_noise = log(sigma) / 4 instead of sigma (Karras et al., Table 1)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.net(x, sigma.log() / 4, **kwargs)


class EDMDenoiser(Denoiser):
    """k-diffusion's preconditioned denoiser around ``net(x, c_noise)``; calling it gives
    D(x, sigma) for a batch of noise levels (or one). Keyword arguments (a conditional net's
    ``embedding``) go to the net unchanged."""

    def __init__(self, net: nn.Module, sigma_data: float):
        super().__init__(NoiseLevel(net), sigma_data=sigma_data)

    @property
    def net(self) -> nn.Module:
        return self.inner_model.net

    def forward(self, x: torch.Tensor, sigma, **kwargs) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        return super().forward(x, sigma.expand(x.shape[0]) if sigma.ndim == 0 else sigma, **kwargs)


def training_sigmas(n: int, p_mean: float, p_std: float, device="cpu") -> torch.Tensor:
    """Noise levels of one training batch: log sigma ~ N(p_mean, p_std^2)."""
    return rand_log_normal((n,), loc=p_mean, scale=p_std, device=device)


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """The Karras schedule sigma_0 = sigma_max > ... > sigma_{steps-1} = sigma_min, then 0:
    sigma_i = (sigma_max^(1/rho) + i / (steps - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho."""
    return get_sigmas_karras(steps, sigma_min, sigma_max, rho=rho).to(torch.float64)
