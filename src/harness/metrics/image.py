"""PSNR and FID for the image chapters (LASS, thesis ch. 5), through torchmetrics.

PSNR is computed per image and averaged over images (the thesis's MNIST protocol reports the
mean PSNR of the separated digits). FID uses torchmetrics' ``FrechetInceptionDistance`` with
either the Inception-v3 feature extractor, its weights read from a local file (thesis scale:
``feature_extractor_weights_path``; nothing is downloaded), or any feature module, e.g. the
classifier the DAG trains at the embedded scale, whose name then goes into the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from harness.core.errors import HarnessError


def psnr_per_image(estimates: torch.Tensor, targets: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR (dB) of each image of ``[n, c, h, w]`` batches with values in [0, data_range]."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    if estimates.shape != targets.shape:
        raise HarnessError(
            f"PSNR: estimates {tuple(estimates.shape)} and targets {tuple(targets.shape)} differ"
        )
    return peak_signal_noise_ratio(
        estimates.double(), targets.double(), data_range=data_range, reduction="none", dim=(1, 2, 3)
    )


def mean_psnr(estimates: torch.Tensor, targets: torch.Tensor, data_range: float = 1.0) -> float:
    return float(psnr_per_image(estimates, targets, data_range).mean())


def fid_metric(
    feature: torch.nn.Module | None = None,
    inception_weights: str | os.PathLike | None = None,
    image_size: tuple[int, int, int] = (3, 299, 299),
):
    """A torchmetrics FID object over ``feature`` (a module mapping float images in [0, 1] of
    ``image_size`` to ``[n, d]``; torchmetrics probes it once to learn d, unless it has a
    ``num_features`` attribute) or over Inception-v3 with weights from ``inception_weights``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if feature is not None:
        return FrechetInceptionDistance(feature=feature, normalize=True, input_img_size=image_size)
    if inception_weights is None or not Path(inception_weights).is_file():
        raise HarnessError(f"FID: Inception weights {inception_weights} not found (nothing is downloaded)")
    return FrechetInceptionDistance(
        feature=2048, normalize=True, feature_extractor_weights_path=str(inception_weights)
    )


def fid(real: torch.Tensor, fake: torch.Tensor, metric, batch_size: int = 256) -> float:
    """FID between two image sets ``[n, c, h, w]`` in [0, 1]."""
    metric.reset()
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, len(images), batch_size):
            metric.update(images[i : i + batch_size], real=is_real)
    return float(metric.compute())
