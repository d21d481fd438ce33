"""LASS likelihood counting: sparse (non-zeros only) against the original dense K^3 array.

At K = 256 both count the same synthetic code triples (one pass over 30,000 mixtures of 7 x 7
codes, as one MNIST epoch) and must agree exactly; time and memory are measured in one run. At
K = 2,048 (the Slakh VQ-VAE) only the sparse counts are made: the dense array would need K^3 x 8
bytes = 68.7 GB. Codes are drawn from a Zipf-like law (few codes are frequent, as in a trained
VQ-VAE) and the mixture code is a noisy function of the pair, so the density is small.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from common import machine, write_result

from harness.lass.likelihood import SparseCounts, dense_counts


def synthetic_codes(codes: int, mixtures: int, positions: int, seed: int):
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, codes + 1) ** 1.1
    weights /= weights.sum()
    z1 = rng.choice(codes, size=(mixtures, positions), p=weights)
    z2 = rng.choice(codes, size=(mixtures, positions), p=weights)
    noise = rng.choice(3, size=(mixtures, positions), p=[0.8, 0.15, 0.05])
    m = (np.maximum(z1, z2) + noise) % codes
    return tuple(torch.from_numpy(a) for a in (z1, z2, m))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_sparse(z1, z2, m, codes: int, batch: int) -> SparseCounts:
    counts = SparseCounts.empty(codes)
    for i in range(0, len(z1), batch):
        counts.add(z1[i : i + batch], z2[i : i + batch], m[i : i + batch])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=30000)
    parser.add_argument("--batch", type=int, default=1000, help="mixtures per sparse merge")
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    z1, z2, m = synthetic_codes(256, args.mixtures, 49, seed=0)
    rss0 = peak_rss_mb()
    start = time.perf_counter()
    sparse = count_sparse(z1, z2, m, 256, args.batch)
    t_sparse = time.perf_counter() - start
    rss_sparse = peak_rss_mb()
    start = time.perf_counter()
    dense = dense_counts(z1, z2, m, 256)
    t_dense = time.perf_counter() - start
    rss_dense = peak_rss_mb()
    assert torch.equal(sparse.to_dense(), dense), "sparse and dense counts differ"

    big = synthetic_codes(2048, args.mixtures, 49, seed=1)
    start = time.perf_counter()
    large = count_sparse(*big, 2048, args.batch)
    t_large = time.perf_counter() - start
    rss_large = peak_rss_mb()
    result = {
        "machine": machine(),
        "counted": f"{args.mixtures} mixtures x 49 codes, both orders",
        "k256_sparse_seconds": round(t_sparse, 3),
        "k256_dense_seconds": round(t_dense, 3),
        "k256_time_ratio_sparse_over_dense": round(t_sparse / t_dense, 2),
        "k256_nonzeros": sparse.nnz,
        "k256_density_percent": round(100 * sparse.density, 4),
        "k256_sparse_bytes": sparse.nnz * 16,
        "k256_dense_bytes": 256**3 * 8,
        "k256_memory_ratio_dense_over_sparse": round(256**3 * 8 / (sparse.nnz * 16), 1),
        "peak_rss_mb_before": round(rss0, 1),
        "peak_rss_mb_after_sparse": round(rss_sparse, 1),
        "peak_rss_mb_after_dense": round(rss_dense, 1),
        "k2048_sparse_seconds": round(t_large, 3),
        "k2048_nonzeros": large.nnz,
        "k2048_density_percent": round(100 * large.density, 6),
        "k2048_sparse_bytes": large.nnz * 16,
        "k2048_dense_bytes_needed": 2048**3 * 8,
        "peak_rss_mb_after_k2048": round(rss_large, 1),
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
