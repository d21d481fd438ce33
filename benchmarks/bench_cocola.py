"""Benchmark: COCOLA scoring (eq. 7.4) of pairs batched across pairs and windows (what ``harness
cocola score`` does) against scoring pairs one by one, in windows per second, and the log-mel
front end's share of an embedding; ratios measured in one run on this machine with an untrained
embedded-size encoder (the speed does not depend on the weights). Both ways must give the same
scores.

    python benchmarks/bench_cocola.py [--pairs P] [--windows W] [--batch B] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import yaml
from common import machine, write_result

from harness.cocola.model import Cocola, Features, ModelSettings
from harness.cocola.score import score_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16, help="conditioning / accompaniment pairs")
    parser.add_argument("--windows", type=int, default=2, help="windows per pair")
    parser.add_argument("--batch", type=int, default=32, help="windows per batch of the batched scorer")
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = yaml.safe_load(open("config.yaml"))["cocola"]
    features, settings = Features(**config["features"]), ModelSettings(**config["model"])
    model = Cocola(features, settings).eval()
    window = round(config["training"]["window_seconds"] * features.sample_rate)
    rng = np.random.default_rng(0)
    pairs = [tuple(0.1 * rng.standard_normal((args.windows, window)).astype(np.float32) for _ in range(2))
             for _ in range(args.pairs)]  # fmt: skip
    n = 2 * args.pairs * args.windows  # windows embedded

    start = time.perf_counter()
    batched = score_pairs(model, pairs, "cpu", args.batch)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    single = [score_pairs(model, [p], "cpu", 1)[0] for p in pairs]
    t_single = time.perf_counter() - start
    clips = torch.from_numpy(np.concatenate([np.concatenate(p) for p in pairs]))
    with torch.no_grad():
        start = time.perf_counter()
        for i in range(0, len(clips), args.batch):
            model.front(clips[i : i + args.batch])
        t_front = time.perf_counter() - start
    result = {
        "machine": machine(),
        "scoring": f"{args.pairs} pairs x {args.windows} windows x {window / features.sample_rate:g} s at "
        f"{features.sample_rate} Hz, embedded encoder (width {settings.width}, depth {settings.depth}), 1 thread",
        "windows_per_second_one_by_one": round(n / t_single, 1),
        f"windows_per_second_batched_{args.batch}": round(n / t_batched, 1),
        "batched_speedup": round(t_single / t_batched, 2),
        "largest_score_difference": float(np.max(np.abs(np.array(batched) - np.array(single)))),
        "log_mel_windows_per_second": round(n / t_front, 1),
        "log_mel_share_of_batched_embedding": round(t_front / t_batched, 3),
    }
    print(yaml.safe_dump(result, sort_keys=False))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
