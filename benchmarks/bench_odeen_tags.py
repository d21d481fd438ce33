"""Benchmark: the full Odeen tag matrix (24,794 rules x 117,649 structures), vectorised, against
a plain per-rule numpy evaluation, measured in the same run on this machine.

Targets (issue 3): at least 10x faster than per-rule, under 30 s and under 2 GB peak memory.
The per-rule baseline is timed on a random sample of rules and extrapolated to all of them
(`--baseline-rules 0` times every rule: a few minutes on 2 cores).

    python benchmarks/bench_odeen_tags.py [--baseline-rules N] [--out FILE]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from common import machine, write_result

from harness.odeen.interpreter import label, tag_matrix, unpack_row
from harness.odeen.language import all_rule_strings, universe


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-rules", type=int, default=2000, help="0 = all rules")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()

    structures = universe()
    rules = all_rule_strings()
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    tag_rules, packed = tag_matrix(structures)
    vectorised_s = time.perf_counter() - start
    peak_mb = peak_rss_mb()

    rng = np.random.default_rng(args.seed)
    sample = (
        rules if args.baseline_rules == 0 else list(rng.choice(rules, args.baseline_rules, replace=False))
    )
    start = time.perf_counter()
    labels = [label(rule, structures) for rule in sample]
    sample_s = time.perf_counter() - start
    per_rule_s = sample_s * len(rules) / len(sample)

    index = {r: i for i, r in enumerate(tag_rules)}
    for rule, lab in zip(sample[:200], labels[:200]):  # the two agree
        assert (unpack_row(packed[index[rule]], len(structures)) == lab).all(), rule

    result = {
        "machine": machine(),
        "vectorised_s": round(vectorised_s, 2),
        "per_rule_s": round(per_rule_s, 1),
        "per_rule_timed_rules": len(sample),
        "speedup": round(per_rule_s / vectorised_s, 1),
        "peak_rss_mb": round(peak_mb, 0),
        "rss_before_mb": round(rss_before, 0),
        "packed_matrix_mb": round(packed.nbytes / 1e6, 1),
    }
    print(f"full tag matrix, vectorised: {vectorised_s:.2f} s (target < 30 s)")
    print(
        f"per-rule numpy:              {per_rule_s:.1f} s"
        + (f" (extrapolated from {len(sample)} rules)" if len(sample) < len(rules) else "")
    )
    print(f"speed-up:                    {per_rule_s / vectorised_s:.1f}x (target >= 10x)")
    print(f"peak memory (RSS):           {peak_mb:.0f} MB (target < 2048 MB)")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
