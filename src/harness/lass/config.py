"""The LASS settings, one dataclass per config entry (``lass.<dataset>.vqvae`` and friends).

Rules pass each entry as JSON; ``harness.core.config.settings`` fills these dataclasses and
stops on a missing or unknown key. No field has a default: config.yaml (embedded) and
config/thesis.yaml (thesis scale) are the one home of every number.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import HarnessError

LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class VQVAESettings:
    """``lass.<dataset>.vqvae``: codebook size K, width, commitment weight, the codebook's EMA
    decay and dead-code threshold, and training."""

    codes: int
    dim: int
    beta: float
    decay: float
    dead_code: float
    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int


@dataclass(frozen=True)
class PriorSettings:
    """``lass.<dataset>.prior``: the GPT-2 prior's size and training; ``lr_schedule``
    ``constant`` or ``cosine`` (linear warm-up over ``warmup`` steps, then cosine decay to 0)."""

    n_layer: int
    n_embd: int
    n_head: int
    steps: int
    batch_size: int
    lr: float
    lr_schedule: str
    warmup: int
    checkpoint_every: int

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise HarnessError(
                f"prior lr_schedule {self.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}"
            )
        if self.lr_schedule == "constant" and self.warmup:
            raise HarnessError("prior warmup applies to the cosine lr_schedule only (set it to 0)")
        if not 0 <= self.warmup < self.steps:
            raise HarnessError(
                f"prior warmup {self.warmup} must be between 0 and steps - 1 ({self.steps - 1})"
            )


@dataclass(frozen=True)
class LikelihoodSettings:
    """``lass.<dataset>.likelihood``: passes over random pairs of training images, batch size."""

    epochs: int
    batch: int


@dataclass(frozen=True)
class RefineSettings:
    """``lass.refine``: T Adam steps of learning rate alpha (Eqs. 5.5-5.6) and the pull towards
    the sampled codes."""

    steps: int
    alpha: float
    regularizer: float


@dataclass(frozen=True)
class RerankSettings:
    """``lass.test.rerank``: prior re-ranking (ours, ``harness.lass.separate``) of the
    ``candidates`` best candidates by L2, each refined for ``steps`` steps first; 0 candidates
    leave it out (the thesis's protocol alone)."""

    candidates: int
    steps: int

    def __post_init__(self):
        if self.candidates < 0 or self.steps < 0:
            raise HarnessError("rerank: candidates and steps must be >= 0")


@dataclass(frozen=True)
class NMFSettings:
    """``lass.nmf``: the NMF baseline's dictionary size, training digits and iterations."""

    components: int
    train_images: int
    max_iter: int
