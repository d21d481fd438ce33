"""The LASS settings, one dataclass per config entry (``lass.<dataset>.vqvae`` and friends).

Rules pass each entry as JSON; ``harness.core.config.settings`` fills these dataclasses and
stops on a missing or unknown key. No field has a default: config.yaml (embedded) and
config/thesis.yaml (thesis scale) are the one home of every number.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    """``lass.<dataset>.prior``: the GPT-2 prior's size and training."""

    n_layer: int
    n_embd: int
    n_head: int
    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int


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
class NMFSettings:
    """``lass.nmf``: the NMF baseline's dictionary size, training digits and iterations."""

    components: int
    train_images: int
    max_iter: int
