"""The chapter's inference tasks on the test set: separation (scored with the MSDM SI-SDRi
protocol), total generation and partial generation (scored with the sub-FAD)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.core.errors import HarnessError
from harness.core.logs import progress
from harness.diffusion.samplers import Schedule, generate, generate_partial, separate_dirac, separate_gaussian


@dataclass(frozen=True)
class Variant:
    """One separator of Table 6.2: likelihood, S_churn, correction rounds R (and gamma / sigma)."""

    label: str  # the row of Table 6.2 (with the model)
    likelihood: str  # dirac | gaussian
    churn: float
    corrections: int
    gamma_over_sigma: float | None = None
    constrained: str | None = None  # Dirac: the stem that completes the mixture (default: the last)


def _bar(steps: int, desc: str):
    bar = progress(total=steps, desc=desc)
    return bar, (lambda i: bar.update(1))


@torch.no_grad()
def separate(denoise, mixtures: torch.Tensor, stems: list[str], schedule: Schedule, variant: Variant,
             generator: torch.Generator) -> torch.Tensor:  # fmt: skip
    """Separate a batch of mixtures [B, 1, L] into [B, N, L] (batched over mixtures and sources)."""
    sigmas, n_sources = schedule.sigmas(), len(stems)
    bar, tick = _bar(len(sigmas) - 1, f"separate ({variant.likelihood})")
    if variant.likelihood == "dirac":
        if variant.constrained is not None and variant.constrained not in stems:
            raise HarnessError(f"constrained stem {variant.constrained!r} is not one of {stems}")
        index = stems.index(variant.constrained) if variant.constrained else n_sources - 1
        out = separate_dirac(denoise, mixtures, n_sources, sigmas, variant.churn, variant.corrections,
                             generator, tick, index)  # fmt: skip
    elif variant.likelihood == "gaussian":
        if not variant.gamma_over_sigma:
            raise HarnessError("the Gaussian likelihood needs gamma_over_sigma > 0")
        out = separate_gaussian(denoise, mixtures, n_sources, sigmas, variant.gamma_over_sigma,
                                variant.churn, variant.corrections, generator, tick)  # fmt: skip
    else:
        raise HarnessError(f"unknown likelihood {variant.likelihood!r} (dirac or gaussian)")
    bar.close()
    return out


@torch.no_grad()
def generate_total(denoise, n: int, channels: int, length: int, schedule: Schedule, churn: float,
                   generator: torch.Generator) -> torch.Tensor:  # fmt: skip
    bar, tick = _bar(schedule.steps, "generate")
    out = generate(denoise, (n, channels, length), schedule.sigmas(), churn, 0, generator, tick)
    bar.close()
    return out


@torch.no_grad()
def generate_given(denoise, given: torch.Tensor, known: list[bool], schedule: Schedule, churn: float,
                   corrections: int, generator: torch.Generator) -> torch.Tensor:  # fmt: skip
    bar, tick = _bar(schedule.steps, "partial generation")
    out = generate_partial(denoise, given, known, schedule.sigmas(), churn, corrections, generator, tick)
    bar.close()
    return out
