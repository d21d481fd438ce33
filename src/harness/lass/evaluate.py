"""Separating MNIST mixtures with LASS and with the baselines, scored by PSNR.

Score of one mixture (the LASS code's protocol): the two estimates may come out in either order,
so the score is the larger of 0.5 PSNR(x1, e1) + 0.5 PSNR(x2, e2) and the same with e1, e2
swapped; tables report the mean (and standard deviation) over mixtures.

Baselines computed here:
- ``average``: both estimates equal the mixture y = (x1 + x2) / 2 (BASIS's m / 2 with m = x1 + x2);
- ``nmf``: scikit-learn NMF learns a dictionary W of non-negative components on training digits;
  a mixture 2y is coded on W with non-negative activations, the active components' images are
  split into two groups by 2-means on their pixel patterns, and each group's sum is a source.
  The thesis does not describe its NMF baseline, so this is our version, named so in the table.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from harness.core.logs import LOG, progress
from harness.lass.likelihood import Likelihood
from harness.lass.separate import PriorPair, Sampler, refine, sample_codes, select_by_l2
from harness.metrics.image import psnr_per_image


def pair_psnr(e1: torch.Tensor, e2: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Permutation-invariant PSNR (dB) per mixture of ``[n, c, h, w]`` estimates and sources."""
    e1, e2 = e1.clamp(0, 1), e2.clamp(0, 1)
    straight = 0.5 * psnr_per_image(e1, x1) + 0.5 * psnr_per_image(e2, x2)
    swapped = 0.5 * psnr_per_image(e2, x1) + 0.5 * psnr_per_image(e1, x2)
    return torch.maximum(straight, swapped)


def separate_one(vqvae, priors: PriorPair, likelihood: Likelihood, mixture: torch.Tensor, sampler: Sampler,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Codes of the mixture ``[1, c, h, w]`` -> candidates -> L2 selection: dense codes (e1, e2)."""
    m = vqvae.encode(mixture)
    side = m.shape[-1]
    c1, c2 = sample_codes(priors, likelihood, m.reshape(-1).tolist(), sampler, generator)
    e1, e2, _ = select_by_l2(vqvae, c1, c2, mixture, side)
    return e1, e2


def separate_mixtures(
    vqvae,
    prior,
    likelihood: Likelihood,
    x1: torch.Tensor,
    x2: torch.Tensor,
    sampler: Sampler,
    refine_settings: dict,
    seed: int,
    batch: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """LASS on the mixtures (x1 + x2) / 2: estimates ``[n, c, h, w]`` of each source and one
    row per mixture (PSNR before and after refinement, seconds of sampling + selection)."""
    generator = torch.Generator(device=x1.device).manual_seed(seed)
    priors = PriorPair(prior, prior, likelihood.codes)
    mixtures = (x1 + x2) / 2
    out1, out2, rows = [], [], []
    for start in progress(range(0, len(mixtures), batch), desc=f"LASS {sampler.kind}"):
        e1s, e2s, seconds = [], [], []
        for i in range(start, min(start + batch, len(mixtures))):
            t0 = time.perf_counter()
            e1, e2 = separate_one(vqvae, priors, likelihood, mixtures[i : i + 1], sampler, generator)
            seconds.append(time.perf_counter() - t0)
            e1s.append(e1)
            e2s.append(e2)
        e1, e2 = torch.cat(e1s), torch.cat(e2s)
        sl = slice(start, start + len(e1))
        with torch.no_grad():
            before = pair_psnr(vqvae.decode_latents(e1), vqvae.decode_latents(e2), x1[sl], x2[sl])
        r1, r2 = refine(vqvae, e1, e2, mixtures[sl], int(refine_settings["steps"]), float(refine_settings["alpha"]),
                        float(refine_settings.get("regularizer", 1e-3)))  # fmt: skip
        after = pair_psnr(r1, r2, x1[sl], x2[sl])
        out1.append(r1.clamp(0, 1))
        out2.append(r2.clamp(0, 1))
        for j in range(len(e1)):
            rows.append({"mixture": start + j, "psnr": round(float(after[j]), 4),
                         "psnr_unrefined": round(float(before[j]), 4), "sampling_seconds": round(seconds[j], 4)})  # fmt: skip
    LOG.info(
        "LASS %s: mean PSNR %.2f dB over %d mixtures",
        sampler.kind,
        np.mean([r["psnr"] for r in rows]),
        len(rows),
    )
    return torch.cat(out1), torch.cat(out2), rows


def average_baseline(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    y = (x1 + x2) / 2
    return pair_psnr(y, y, x1, x2)


def nmf_dictionary(train_images: np.ndarray, components: int, seed: int, max_iter: int = 200) -> np.ndarray:
    """Non-negative components ``[r, 784]`` learned on training digits ``[n, 1, 28, 28]``."""
    from sklearn.decomposition import NMF

    model = NMF(n_components=components, init="nndsvda", max_iter=max_iter, random_state=seed)
    model.fit(train_images.reshape(len(train_images), -1).astype(np.float64))  # float64: fewer order effects
    return model.components_


def nmf_baseline(
    x1: torch.Tensor, x2: torch.Tensor, dictionary: np.ndarray, seed: int
) -> tuple[torch.Tensor, ...]:
    """NMF separation of (x1 + x2) / 2 on ``dictionary``: (e1, e2, PSNR per mixture)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import non_negative_factorization

    y = ((x1 + x2) / 2).reshape(len(x1), -1).double().numpy()
    dictionary = np.asarray(dictionary, np.float64)
    h, _, _ = non_negative_factorization(2 * y, H=dictionary, n_components=len(dictionary), update_H=False,
                                         init="custom", max_iter=400, random_state=seed)  # fmt: skip
    e1 = np.zeros_like(y)
    e2 = np.zeros_like(y)
    for i in range(len(y)):
        active = np.flatnonzero(h[i] > 1e-8)
        parts = h[i, active, None] * dictionary[active]  # each active component's image
        if len(active) < 2:
            e1[i] = e2[i] = parts.sum(0) / 2
            continue
        norm = parts / (np.linalg.norm(parts, axis=1, keepdims=True) + 1e-12)
        groups = KMeans(2, n_init=4, random_state=seed).fit_predict(norm)
        e1[i], e2[i] = parts[groups == 0].sum(0), parts[groups == 1].sum(0)
    shape = x1.shape
    t1, t2 = torch.from_numpy(e1).float().reshape(shape), torch.from_numpy(e2).float().reshape(shape)
    return t1, t2, pair_psnr(t1, t2, x1, x2)
