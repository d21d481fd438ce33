"""GMSDI's inference procedures (thesis 6.4), one function per equation, over a conditional
denoiser ``denoise(x, sigma, embedding)`` (x [B, 1, L], embedding [B, D]).

Every source or sub-mixture of a task is a channel of the sampler's state with its own prompt:

- ``prompted`` / ``guided_score``: the guided denoiser of each channel with its prompt z_c and negative n_c,
  D*(x_c) = D(x_c, z_c) + w (D(x_c, z_c) - D(x_c, n_c)) (classifier-free guidance, section 2.2.2;
  n_c is the null embedding or a negative prompt), all channels in one batch;
- ``total_generation_score`` (eqs. 6.13 / 6.14): channels x_1..x_M (one per set J_m of a
  partition of the stems; single stems give eq. 6.13) and the mixture y, sampled in parallel:
  S(x_m, z_{J_m}) + (y - sum_l x_l) / gamma_x^2 and S(y, (x)_l z_l) + (sum_l x_l - y) / gamma_y^2;
- ``partial_generation_score`` (eq. 6.15): the generated x_j and y, with the given sources x_i(t)
  drawn from the perturbation kernel x_i + sigma eps and the estimate alpha sum_I x_i(t) +
  beta sum_J x_j in place of sum_l x_l;
- ``separator_score`` (eq. 6.16): the K sources with the constrained one (last)
  x_K = y(0) - sum_{l<K} x_l: S(x_k, z_k) - S(x_K, z_K) for k < K;
- ``extractor_score`` (eq. 6.17): x_k and its complement y(0) - x_k prompted with the other
  stems' labels: S(x_k, z_k) - S(y(0) - x_k, (x)_{l != k} z_l).

The likelihood variances scale with the noise, gamma = c sigma [107] (c = None: gamma = infinity,
no likelihood term). Generation integrates with k-diffusion's ADPM2 (``sample_dpm_2_ancestral``),
separation with the shared Euler sampler with S_churn and the Dirac constraint."""

from __future__ import annotations

from collections.abc import Callable

import torch

from harness.diffusion.samplers import euler_sampler, initial_noise
from harness.diffusion.scores import classifier_free_guidance, constrain, dirac_separation_score

Conditional = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def scalar_sigma(sigma) -> torch.Tensor:
    """A scalar noise level (samplers pass one value, or one per batch item, all equal)."""
    return torch.as_tensor(sigma).flatten()[0]


def prompted(
    denoise: Conditional, x: torch.Tensor, sigma, prompts: torch.Tensor, negatives: torch.Tensor,
    w: float,
) -> torch.Tensor:  # fmt: skip
    """D* of every channel of x [B, C, L] with its prompt: ``prompts`` and ``negatives`` are
    [C, D] (the same for every item) or [B, C, D]. With w = 0 the negatives are not evaluated."""
    b, c, n = x.shape
    prompts = prompts.expand(b, c, -1) if prompts.ndim == 2 else prompts
    flat = x.reshape(b * c, 1, n)
    s = scalar_sigma(sigma).to(x.dtype)
    if w == 0:
        out = denoise(flat, s, prompts.reshape(b * c, -1))
    else:
        negatives = negatives.expand(b, c, -1) if negatives.ndim == 2 else negatives
        both = denoise(
            torch.cat([flat, flat]), s, torch.cat([prompts.reshape(b * c, -1), negatives.reshape(b * c, -1)])
        )
        out = classifier_free_guidance(both[: b * c], both[b * c :], w)
    return out.reshape(b, c, n)


def _score(denoised: torch.Tensor, x: torch.Tensor, sigma) -> torch.Tensor:
    return (denoised - x) / scalar_sigma(sigma).to(x.dtype) ** 2


def guided_score(
    denoise: Conditional, v: torch.Tensor, sigma, prompts: torch.Tensor, negatives: torch.Tensor, w: float
) -> torch.Tensor:
    """Eq. 2.9 with classifier-free guidance: the score S*(v_c, z_c, sigma) of every channel
    (single-stem prompting, Figure 6.4)."""
    return _score(prompted(denoise, v, sigma, prompts, negatives, w), v, sigma)


def _likelihood(c: float | None) -> float:
    """sigma^2 / gamma^2 with gamma = c sigma: 1 / c^2 (0 for gamma = infinity)."""
    return 0.0 if c is None else 1.0 / c**2


def total_generation_score(
    denoise: Conditional, v: torch.Tensor, sigma, prompts: torch.Tensor, negatives: torch.Tensor,
    w: float, gamma_x: float | None, gamma_y: float | None,
) -> torch.Tensor:  # fmt: skip
    """Eqs. 6.13 / 6.14 on v = [x_1, ..., x_M, y] [B, M + 1, L]; ``prompts`` [M + 1, D] (the last
    is the mixture's, (x)_l z_l). Returns the score of every channel."""
    x, y = v[:, :-1], v[:, -1:]
    residual = y - x.sum(1, keepdim=True)  # y(t) - sum_l x_l(t)
    s = scalar_sigma(sigma).to(v.dtype)
    score = _score(prompted(denoise, v, sigma, prompts, negatives, w), v, sigma)
    pull = torch.cat([residual.expand_as(x) * _likelihood(gamma_x), -residual * _likelihood(gamma_y)], 1)
    return score + pull / s**2


def partial_generation_score(
    denoise: Conditional, v: torch.Tensor, sigma, given: torch.Tensor, prompts: torch.Tensor,
    negatives: torch.Tensor, w: float, gamma_x: float | None, gamma_y: float | None, alpha: float,
    beta: float, generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """Eq. 6.15 on v = [x_j for j in J, y] [B, |J| + 1, L], given the sources x_I as ``given``
    [B, |I|, L] (clean; each call draws x_i(t) = x_i + sigma eps). ``prompts`` [|J| + 1, D]."""
    s = scalar_sigma(sigma).to(v.dtype)
    noise = torch.randn(given.shape, generator=generator, dtype=given.dtype, device=given.device)
    given_t = given + s * noise
    x, y = v[:, :-1], v[:, -1:]
    estimate = alpha * given_t.sum(1, keepdim=True) + beta * x.sum(1, keepdim=True)
    residual = y - estimate
    score = _score(prompted(denoise, v, sigma, prompts, negatives, w), v, sigma)
    pull = torch.cat([residual.expand_as(x) * _likelihood(gamma_x), -residual * _likelihood(gamma_y)], 1)
    return score + pull / s**2


def separator_score(
    denoise: Conditional, x: torch.Tensor, sigma, mixture: torch.Tensor, prompts: torch.Tensor,
    negatives: torch.Tensor, w: float,
) -> torch.Tensor:  # fmt: skip
    """Eq. 6.16 on x [B, K, L], the constrained source last (prompts [K, D] or [B, K, D] in that
    order): g_k = S(x_k, z_k) - S(y(0) - sum_{l<K} x_l, z_K) for k < K, and g_K = -sum_k g_k so a
    step keeps the constraint."""

    def channels(u, t):
        return prompted(denoise, u, t, prompts, negatives, w)

    return dirac_separation_score(channels, x, scalar_sigma(sigma).to(x.dtype), mixture)


def extractor_score(
    denoise: Conditional, x: torch.Tensor, sigma, mixture: torch.Tensor, prompt: torch.Tensor,
    complement: torch.Tensor, negatives: torch.Tensor, w: float,
) -> torch.Tensor:  # fmt: skip
    """Eq. 6.17 on x = [x_k, rest] [B, 2, L]: S(x_k, z_k) - S(y(0) - x_k, (x)_{l != k} z_l), the
    complement constrained. ``prompt`` and ``complement``: [D] or [B, D]; ``negatives`` [2, D] or
    [B, 2, D]."""
    prompts = torch.stack([prompt, complement], -2)
    return separator_score(denoise, x, sigma, mixture, prompts, negatives, w)


def as_denoiser(score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
    """The denoiser of a score, D(v, sigma) = v + sigma^2 S(v, sigma), for k-diffusion's samplers."""

    def denoise(v, sigma):
        s = scalar_sigma(sigma).to(v.dtype)
        return v + s**2 * score(v, s)

    return denoise


def adpm2(score, shape, sigmas: torch.Tensor, generator: torch.Generator, dtype=torch.float32, device="cpu",
          progress=None) -> torch.Tensor:  # fmt: skip
    """Generation: k-diffusion's ancestral DPM-Solver-2 (ADPM2) from x ~ N(0, sigma_0^2 I), with
    its noise drawn from ``generator``."""
    from k_diffusion.sampling import sample_dpm_2_ancestral

    x = initial_noise(shape, float(sigmas[0]), generator, dtype, device)

    def noise(sigma, sigma_next):
        return torch.randn(shape, generator=generator, dtype=dtype, device=device)

    callback = (lambda info: progress(info["i"])) if progress else None
    return sample_dpm_2_ancestral(as_denoiser(score), x, sigmas.to(dtype).to(device), callback=callback,
                                  disable=True, noise_sampler=noise)  # fmt: skip


def separate(score, mixture: torch.Tensor, channels: int, sigmas: torch.Tensor, churn: float,
             generator: torch.Generator, progress=None) -> torch.Tensor:  # fmt: skip
    """Separation (eqs. 6.16 / 6.17): Euler with S_churn over ``channels`` sources whose last one
    is constrained to complete ``mixture`` [B, 1, L] (Algorithm 3's sampler)."""
    shape = (mixture.shape[0], channels, *mixture.shape[2:])
    x = initial_noise(shape, float(sigmas[0]), generator, mixture.dtype, mixture.device)
    return euler_sampler(score, x, sigmas, churn, 0, lambda v, s: constrain(v, mixture), generator, progress)
