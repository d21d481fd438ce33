"""The discrete likelihood of LASS (thesis section 5.3.2), stored sparsely.

Frequency counts F[z1, z2, m] of the mixture code m given the source codes (z1, z2) at the same
latent position, counted in both orders (the sum commutes), then

    L[z1, z2, :] = F[z1, z2, :] / sum_k F[z1, z2, k]

and at inference the slice p(m | ., .) = L[:, :, m]. The original code kept F as a dense K^3
array, which is 16.7M entries at K = 256 but 8.6e9 at K = 2,048 and 4.4e12 at K = 16,384; here
only the non-zero entries are kept, as sorted linear keys ``(z1 * K + z2) * K + m`` with their
counts, so memory grows with the non-zeros (Table 5.1: the density is 1.5% on MNIST and far lower
at large K). ``dense_counts`` is the dense reference (tests, benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.core.errors import HarnessError
from harness.core.logs import progress
from harness.train.files import load_state, save_state


@dataclass
class SparseCounts:
    """Non-zero counts of F: ``keys`` (sorted, unique int64) and ``counts`` (int64)."""

    codes: int
    keys: torch.Tensor
    counts: torch.Tensor

    @classmethod
    def empty(cls, codes: int) -> SparseCounts:
        if codes < 1 or codes**3 >= 2**63:
            raise HarnessError(f"likelihood: K = {codes} codes cannot be keyed in int64")
        return cls(codes, torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))

    @property
    def nnz(self) -> int:
        return int(self.keys.numel())

    @property
    def density(self) -> float:
        """Fraction of the K^3 entries that are non-zero."""
        return self.nnz / float(self.codes) ** 3

    def add(self, z1: torch.Tensor, z2: torch.Tensor, m: torch.Tensor) -> SparseCounts:
        """Count the co-occurrences of same-shaped code tensors (every position), both orders."""
        if not (z1.shape == z2.shape == m.shape):
            raise HarnessError(
                f"likelihood: code shapes differ: {tuple(z1.shape)}, {tuple(z2.shape)}, {tuple(m.shape)}"
            )
        k = self.codes
        z1, z2, m = (t.reshape(-1).to(torch.int64).cpu() for t in (z1, z2, m))
        if z1.numel() and (min(z1.min(), z2.min(), m.min()) < 0 or max(z1.max(), z2.max(), m.max()) >= k):
            raise HarnessError(f"likelihood: a code is outside [0, {k})")
        new = torch.cat([(z1 * k + z2) * k + m, (z2 * k + z1) * k + m])
        keys, inverse = torch.unique(torch.cat([self.keys, new]), sorted=True, return_inverse=True)
        counts = torch.zeros(keys.numel(), dtype=torch.int64)
        counts.index_add_(0, inverse, torch.cat([self.counts, torch.ones(new.numel(), dtype=torch.int64)]))
        self.keys, self.counts = keys, counts
        return self

    def to_dense(self) -> torch.Tensor:
        dense = torch.zeros(self.codes**3, dtype=torch.int64)
        dense[self.keys] = self.counts
        return dense.reshape(self.codes, self.codes, self.codes)

    def save(self, path: str, meta: dict | None = None) -> None:
        save_state(path, "lass_counts", {"codes": self.codes, "keys": self.keys, "counts": self.counts,
                                         "meta": meta or {}})  # fmt: skip

    @classmethod
    def load(cls, path: str) -> SparseCounts:
        state = load_state(path, "lass_counts", "likelihood counts")
        try:
            codes, keys, counts = int(state["codes"]), state["keys"], state["counts"]
            if keys.shape != counts.shape or keys.ndim != 1 or codes < 2:
                raise ValueError(f"keys {tuple(keys.shape)}, counts {tuple(counts.shape)}, K = {codes}")
            if len(keys) and (int(keys.min()) < 0 or int(keys.max()) >= codes**3):
                raise ValueError("keys outside [0, K^3)")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise HarnessError(f"{path}: not likelihood counts ({str(err)[:120]})") from None
        return cls(codes, keys, counts)


def dense_counts(
    z1: torch.Tensor, z2: torch.Tensor, m: torch.Tensor, codes: int, out: torch.Tensor | None = None
):
    """The original dense F (``[K, K, K]`` int64), accumulating repeated triples (both orders)."""
    f = torch.zeros(codes, codes, codes, dtype=torch.int64) if out is None else out
    z1, z2, m = (t.reshape(-1).to(torch.int64) for t in (z1, z2, m))
    ones = torch.ones(z1.numel(), dtype=torch.int64)
    f.index_put_((z1, z2, m), ones, accumulate=True)
    f.index_put_((z2, z1, m), ones, accumulate=True)
    return f


class Likelihood:
    """log L sliced by mixture code: ``slice(m)`` -> (z1, z2, log L[z1, z2, m]) over the non-zeros."""

    def __init__(self, counts: SparseCounts, device: str = "cpu"):
        k = counts.codes
        if counts.nnz == 0:
            raise HarnessError("likelihood: no counts (was anything counted?)")
        self.codes = k
        pair, mix = counts.keys // k, counts.keys % k
        pairs, inverse = torch.unique(pair, return_inverse=True)
        totals = torch.zeros(pairs.numel(), dtype=torch.float64).index_add_(
            0, inverse, counts.counts.double()
        )
        log_l = torch.log(counts.counts.double() / totals[inverse]).float()
        self._log_l_by_key = log_l.to(device)  # in the order of the sorted keys
        order = torch.argsort(mix * (k * k) + pair)  # by mixture code, then by pair
        self._z1 = (pair[order] // k).to(device)
        self._z2 = (pair[order] % k).to(device)
        self._log_l = log_l[order].to(device)
        self._offsets = torch.cat(
            [torch.zeros(1, dtype=torch.int64), torch.cumsum(torch.bincount(mix, minlength=k), 0)]
        )
        self._keys = counts.keys.to(device)  # sorted (z1 * K + z2) * K + m

    @property
    def device(self) -> torch.device:
        return self._log_l.device

    def _find(self, z1: torch.Tensor, z2: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(index into the sorted keys, whether the key is there), elementwise."""
        k = self.codes
        key = ((z1.long() * k + z2.long()) * k + m.long()).to(self._keys.device)
        at = torch.searchsorted(self._keys, key).clamp(max=len(self._keys) - 1)
        return at, self._keys[at] == key

    def counted(self, z1: torch.Tensor, z2: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Whether L[z1, z2, m] > 0, elementwise over same-shaped code tensors."""
        return self._find(z1, z2, m)[1]

    def log_l(self, z1: torch.Tensor, z2: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """log L[z1, z2, m] elementwise over same-shaped code tensors; -inf where never counted."""
        at, found = self._find(z1, z2, m)
        return torch.where(found, self._log_l_by_key[at], torch.full_like(self._log_l_by_key[at], -torch.inf))

    def mixture_counted(self, m: torch.Tensor) -> torch.Tensor:
        """Whether the mixture code was ever counted (its slice has a pair), elementwise; where
        it was not, the samplers fall back on the priors alone (log L = 0 for every pair)."""
        m = m.long().cpu()
        return (self._offsets[m + 1] > self._offsets[m]).to(self.device)

    def slice(self, m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lo, hi = int(self._offsets[m]), int(self._offsets[m + 1])
        return self._z1[lo:hi], self._z2[lo:hi], self._log_l[lo:hi]


def count_likelihood(
    vqvae, images: np.ndarray, epochs: int, batch: int, seed: int
) -> tuple[SparseCounts, int]:
    """F of section 5.3.2 over ``epochs`` passes of random pairs of ``images`` (each pass pairs
    every image once): the codes of both sources and of their mixture (x1 + x2) / 2 at each
    latent position are counted. Returns the counts and the number of mixtures counted."""
    from harness.lass.train import encode_all

    codes = encode_all(vqvae, images)
    device = next(vqvae.parameters()).device
    counts = SparseCounts.empty(vqvae.config.codes)
    rng = np.random.default_rng(seed)
    half = len(images) // 2
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        first, second = order[:half], order[half : 2 * half]
        for i in progress(range(0, half, batch), desc=f"counting, pass {epoch + 1}/{epochs}"):
            a, b = first[i : i + batch], second[i : i + batch]
            mixture = torch.from_numpy((images[a] + images[b]) / 2).to(device)
            counts.add(codes[a], codes[b], vqvae.encode(mixture))
    return counts, epochs * half


def likelihood_stats(counts: SparseCounts, dataset: str, mixtures: int) -> dict:
    """Table 5.1's statistics of the counts: the codes the sources used, non-zeros, density,
    memory sparse and dense."""
    used = int(torch.unique(counts.keys // counts.codes**2).numel())  # z1 of every counted triple
    return {"dataset": dataset, "codes": counts.codes, "codes_used": used, "nonzeros": counts.nnz,
            "density_percent": 100 * counts.density,
            "mixtures_counted": mixtures, "sparse_bytes": counts.nnz * 16, "dense_bytes": counts.codes**3 * 8}  # fmt: skip
