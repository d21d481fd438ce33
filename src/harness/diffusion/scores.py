"""Score functions of the thesis's diffusion tasks. Each takes ``denoise(x, sigma) -> D(x, sigma)``
(the preconditioned denoiser, or a closed form in tests) and returns a score: the gradient of a log
density of the noised sources at ``sigma``. Sources are stacked on axis 1: ``x`` is
``[batch, N, ...]`` and the mixture ``y`` is ``[batch, 1, ...]``.

- prior score (eq. 6.1 through the denoiser): S(x, sigma) = (D(x, sigma) - x) / sigma^2;
- partial generation (eq. 6.2): the given sources are replaced by forward-process samples
  x_I(0) + sigma eps before the prior score (``inpaint``);
- ``gaussian_separation_score`` (eq. 6.4): S(x, sigma) + (y - sum_n x_n) / gamma^2 on every source;
- ``dirac_separation_score`` (eqs. 6.5-6.7): with the last source constrained to
  x_N = y - sum_{n<N} x_n, g_m = S_m(z, sigma) - S_N(z, sigma) for m < N;
- ``classifier_free_guidance`` (section 2.2.2): S* = S(x, z) + w (S(x, z) - S(x, n)), with n the
  null embedding or a negative prompt.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def prior_score(denoise: Denoise, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """S(x, sigma) = (D(x, sigma) - x) / sigma^2."""
    return (denoise(x, sigma) - x) / sigma**2


def constrain(x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """z = [x_1, ..., x_{N-1}, y - sum_{n<N} x_n]: the last source completes the mixture."""
    free = x[:, :-1]
    return torch.cat([free, mixture - free.sum(1, keepdim=True)], dim=1)


def dirac_separation_score(
    denoise: Denoise, x: torch.Tensor, sigma: torch.Tensor, mixture: torch.Tensor
) -> torch.Tensor:
    """Eqs. 6.6-6.7: the posterior score under the Dirac likelihood p(y | x) = 1[y = sum_n x_n].
    Returns g with g_m = S_m(z) - S_N(z) for the free sources and g_N = -sum_m g_m (so a step
    along g keeps the constraint)."""
    s = prior_score(denoise, constrain(x, mixture), sigma)
    g = s[:, :-1] - s[:, -1:]
    return torch.cat([g, -g.sum(1, keepdim=True)], dim=1)


def gaussian_separation_score(
    denoise: Denoise, x: torch.Tensor, sigma: torch.Tensor, mixture: torch.Tensor, gamma: torch.Tensor
) -> torch.Tensor:
    """Eq. 6.4: the prior score plus the score of N(y | sum_n x_n, gamma^2 I) on each source."""
    residual = mixture - x.sum(1, keepdim=True)
    return prior_score(denoise, x, sigma) + residual / gamma**2


def inpaint(
    x: torch.Tensor, sigma: torch.Tensor, given: torch.Tensor, known: torch.Tensor, generator=None
) -> torch.Tensor:
    """Partial generation's x_hat (eq. 6.2, after [27]): the sources where ``known`` (a bool
    mask over axis 1) is true become forward-process samples given + sigma * eps."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    mask = known.view(1, -1, *([1] * (x.ndim - 2)))
    return torch.where(mask, given + sigma * noise, x)


def classifier_free_guidance(conditional: torch.Tensor, other: torch.Tensor, w: float) -> torch.Tensor:
    """Section 2.2.2: S*(x, z) = S(x, z) + w (S(x, z) - S(x, n)), where ``other`` is the output at
    the null embedding n (or at a negative prompt [34]). The scores are affine in the denoiser's
    output at one (x, sigma), so the same combination of denoiser outputs gives D* with
    S* = (D* - x) / sigma^2. audio-diffusion-pytorch's ``embedding_scale`` s is w = s - 1."""
    return conditional + w * (conditional - other)
