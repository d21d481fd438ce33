"""Benchmark: bss_eval v4 SDR of one separated track with museval against the batched fast path
(``harness.metrics.sdr``), measured in the same run on this machine, on the same signals; both
must give the same per-stem SDR (within 0.01 dB).

The track: 4 stereo stems of ``--seconds`` at 22.05 kHz, estimates = sources + noise at varied
levels with one silent second in one source, scored on museval's default 1 s frames.

    python benchmarks/bench_sdr.py [--seconds S] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import machine, write_result

from harness.metrics.sdr import sdr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--repeats", type=int, default=3, help="fast-path repeats (the best is kept)")
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sr, n = args.sample_rate, int(args.seconds * args.sample_rate)
    ref = rng.normal(size=(4, 2, n)) * 0.1
    ref[2, :, sr : 2 * sr] = 0
    est = ref + rng.normal(size=ref.shape) * np.array([0.01, 0.03, 0.1, 0.3])[:, None, None]

    start = time.perf_counter()
    slow = sdr(ref, est, sr, backend="museval")
    t_museval = time.perf_counter() - start
    t_fast = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        fast = sdr(ref, est, sr, backend="fast")
        t_fast = min(t_fast, time.perf_counter() - start)
    diff = float(np.max(np.abs(slow - fast)))
    result = {
        "machine": machine(),
        "track": f"4 stereo stems x {args.seconds:g} s at {sr} Hz, 1 s frames",
        "museval_seconds": round(t_museval, 3),
        "fast_seconds": round(t_fast, 5),
        "speedup": round(t_museval / t_fast, 1),
        "max_abs_difference_db": diff,
        "sdr_db": [round(float(x), 3) for x in fast],
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    assert diff <= 0.01, f"the fast path disagrees with museval by {diff} dB"
    write_result(args.out, result)


if __name__ == "__main__":
    main()
