"""Benchmark: the Nearest Rule Score of every test game (thesis size: 1,132 games x 1,176
evaluation structures x all 24,794 rules), as one matrix product against a plain per-game,
per-rule loop, measured in the same run on this machine.

The predictions are the true tags of 1,132 random rules with 5% of the tags flipped (a realistic
mix of hits and misses). The loop is timed on ``--loop-games`` games and extrapolated; both
must give the same hits on those games.

    python benchmarks/bench_odeen_nrs.py [--loop-games N] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import machine, write_result

from harness.odeen.games import column_labels, eval_structures
from harness.odeen.interpreter import label_classes, tag_matrix
from harness.odeen.metrics import nearest_rule_hits, nearest_rule_hits_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1132)
    parser.add_argument("--loop-games", type=int, default=20, help="0 = all games")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    _, packed = tag_matrix()
    classes = label_classes(packed)
    ev_tags = column_labels(packed, eval_structures(np.zeros((1, 1), np.int32), 1176, args.seed)).astype(bool)
    true = rng.choice(len(classes), size=args.games, replace=False)
    pred = ev_tags[true] ^ (rng.random((args.games, ev_tags.shape[1])) < 0.05)

    start = time.perf_counter()
    fast = nearest_rule_hits(pred, ev_tags, classes, classes[true])
    fast_s = time.perf_counter() - start
    n_loop = args.games if args.loop_games == 0 else args.loop_games
    start = time.perf_counter()
    slow = nearest_rule_hits_loop(pred[:n_loop], ev_tags, classes, classes[true[:n_loop]])
    loop_s = (time.perf_counter() - start) * args.games / n_loop
    assert (slow == fast[:n_loop]).all(), "fast and loop NRS disagree"

    result = {
        "machine": machine(),
        "games": args.games,
        "rules": len(classes),
        "eval_structures": int(ev_tags.shape[1]),
        "matrix_s": round(fast_s, 2),
        "loop_s": round(loop_s, 1),
        "loop_timed_games": n_loop,
        "speedup": round(loop_s / fast_s, 1),
        "nrs_of_noisy_predictions": round(float(fast.mean()), 4),
    }
    print(f"NRS of {args.games} games, matrix product: {fast_s:.2f} s")
    print(
        f"plain per-game, per-rule loop:     {loop_s:.1f} s"
        + (f" (extrapolated from {n_loop} games)" if n_loop < args.games else "")
    )
    print(f"speed-up:                          {loop_s / fast_s:.1f}x")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
