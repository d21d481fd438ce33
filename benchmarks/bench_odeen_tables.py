"""Odeen table batches: one vectorised draw for the whole batch against a Python loop per table.

EMP-C / EMP-R train on batches of tables, each ``table_size + 1`` = 33 distinct structures of one
rule's ``m`` labelled ones. The first version drew each table with its own ``rng.choice`` in a
Python loop; ``distinct_draws`` draws the batch at once (Floyd's algorithm over the rows). Both
draws are timed per batch at the embedded (batch 128, m = 1,000) and thesis (batch 512,
m = 10,000) sizes, beside the whole batch (indices, symbols, tensors) for scale; the tables
must hold distinct structures.

    python benchmarks/bench_odeen_tables.py [--batches N] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import machine, write_result

from harness.odeen.language import UNIVERSE_SIZE
from harness.odeen.train import Batches, distinct_draws


def loop_draws(rng: np.random.Generator, rows: int, m: int, t: int) -> np.ndarray:
    """The per-table loop the vectorised draw replaced: t distinct indices of range(m) per row."""
    return np.stack([rng.choice(m, size=t, replace=False) for _ in range(rows)])


def time_per_batch(fn, batches: int) -> float:
    start = time.perf_counter()
    for _ in range(batches):
        fn()
    return (time.perf_counter() - start) / batches


def measure(n_rules: int, m: int, size: int, batches: int) -> dict:
    rng = np.random.default_rng(0)
    data = {
        "structures": np.stack([rng.choice(UNIVERSE_SIZE, m, replace=False) for _ in range(n_rules)]),
        "labels": rng.integers(0, 2, size=(n_rules, m)).astype(np.uint8),
    }
    sampler = Batches(["zero red"] * n_rules, data, 32, "cpu")
    draw = sampler.tables(np.random.default_rng(1), size)
    drawn = np.concatenate([draw["structures"].numpy(), draw["queries"].numpy()[:, None]], axis=1)
    assert all(len(np.unique(table, axis=0)) == 33 for table in drawn), "a table repeats a structure"
    vector = time_per_batch(lambda: distinct_draws(rng, size, m, 33), batches)
    loop = time_per_batch(lambda: loop_draws(rng, size, m, 33), batches)
    whole = time_per_batch(lambda: sampler.tables(rng, size), batches)
    return {
        "rules": n_rules,
        "m": m,
        "batch": size,
        "draw_vectorised_ms": round(1000 * vector, 3),
        "draw_loop_ms": round(1000 * loop, 3),
        "draw_speedup": round(loop / vector, 1),
        "whole_batch_ms": round(1000 * whole, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    result = {
        "machine": machine(),
        "embedded": measure(1438, 1000, 128, args.batches),
        "thesis": measure(1438, 10000, 512, max(5, args.batches // 5)),
    }
    print(result)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
