"""Benchmark: MSDM separation of a test set batched over windows and stems (what ``harness msdm
separate`` does) against a window-by-window loop, and training steps per second at batch 1 vs the
configured batch; ratios measured in one run on this machine, with an untrained embedded-size
U-Net (the speed does not depend on the weights). Both separations use the same noise, so the
estimates must agree to float precision.

    python benchmarks/bench_msdm.py [--windows W] [--steps S] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml
from common import machine, write_result

from harness.diffusion.edm import training_sigmas
from harness.diffusion.models import Loss, Padded, Training
from harness.msdm.inference import Schedule, Variant, separate


def _train_rate(training: Training, batch: int, crop: int, steps: int) -> float:
    loss = Loss(training.denoiser)
    opt = torch.optim.Adam(training.denoiser.parameters(), lr=1e-4)
    x = torch.randn(batch, len(training.config["stems"]), crop) * 0.1
    start = time.perf_counter()
    for _ in range(steps):
        value = loss(x, torch.randn_like(x), training_sigmas(batch, -3.0, 1.0))
        opt.zero_grad()
        value.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8, help="test windows (songs) to separate")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--steps", type=int, default=10, help="sampler steps and training steps")
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = yaml.safe_load(open("config.yaml"))["msdm"]["diffusion"]
    stems = ["bass", "drums", "guitar", "piano"]
    spec = {"stems": stems, "mixture": False, "sample_rate": config["sample_rate"], "crop": config["crop"],
            "sigma_data": config["sigma_data"], "unet": config["unet"]}  # fmt: skip
    training = Training(spec).eval()
    denoise = Padded(training.ema)
    n = round(args.seconds * config["sample_rate"])
    mixtures = torch.randn(args.windows, 1, n) * 0.1
    schedule, variant = Schedule(args.steps, 1e-4, 1.0, 7.0), Variant("Dirac", "dirac", 0.0, 0)

    start = time.perf_counter()
    batched = separate(denoise, mixtures, stems, schedule, variant, torch.Generator().manual_seed(1))
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    looped = torch.cat([separate(denoise, mixtures[i : i + 1], stems, schedule, variant,
                                 torch.Generator().manual_seed(1)) for i in range(args.windows)])  # fmt: skip
    t_loop = time.perf_counter() - start
    training.train()
    rate_one = _train_rate(training, 1, config["crop"], args.steps)
    rate_batch = _train_rate(training, config["batch_size"], config["crop"], args.steps)
    result = {
        "machine": machine(),
        "separation": f"{args.windows} windows x {args.seconds:g} s x 4 stems at {config['sample_rate']} Hz, {args.steps} Dirac steps, 1 thread",
        "loop_seconds": round(t_loop, 2),
        "batched_seconds": round(t_batched, 2),
        "batched_speedup": round(t_loop / t_batched, 2),
        "first_window_max_abs_difference": float((batched[0] - looped[0]).abs().max()),
        "train_steps_per_second_batch_1": round(rate_one, 2),
        f"train_steps_per_second_batch_{config['batch_size']}": round(rate_batch, 2),
        "examples_per_second_ratio": round(rate_batch * config["batch_size"] / rate_one, 2),
    }
    print(yaml.safe_dump(result, sort_keys=False))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
