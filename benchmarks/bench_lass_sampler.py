"""LASS top-k sampling on MNIST-sized codes: the sampler as it is (pairs gathered with
``index_select``, the k best drawn from by inverting their cumulative distribution) against the
straightforward one it replaced (``lp[:, z]`` indexing, the other pairs masked to -inf, then
``torch.multinomial`` over all the mixture code's pairs).

Both run Algorithm 2 with C candidates over the same 49 mixture codes, a GPT-2 prior of the
embedded MNIST size (3 layers x 128, K = 256) with random weights and a random sparse likelihood;
both draw from the same law (tests/test_lass.py checks the new draw against it), with different
random streams, so the times of one run each are compared, not the candidates.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import machine, write_result

from harness.lass import separate
from harness.lass.likelihood import Likelihood, SparseCounts
from harness.lass.models import PriorConfig, make_prior
from harness.lass.separate import PriorPair, Sampler, sample_codes


def reference_posterior(lp1, lp2, z1, z2, log_l, scale):
    return lp1[:, z1] + lp2[:, z2] + scale * log_l


def reference_top_k(post, sampler, generator, scores):
    if sampler.top_k >= post.shape[1]:
        return torch.multinomial(torch.softmax(post, -1), 1, generator=generator)[:, 0], None, scores
    kth = torch.topk(post, sampler.top_k, dim=-1).values[:, -1:]
    probs = torch.softmax(post.masked_fill(post < kth, float("-inf")), -1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0], None, scores


def random_likelihood(codes: int, triples: int, seed: int) -> Likelihood:
    """Uniform random (z1, z2, m) triples: at K = 256 and a million triples about 7,000 pairs per
    mixture code, the mean of the embedded MNIST likelihood (its largest slices hold 20,000)."""
    g = torch.Generator().manual_seed(seed)
    z1, z2, m = (torch.randint(codes, (triples,), generator=g) for _ in range(3))
    return Likelihood(SparseCounts.empty(codes).add(z1, z2, m))


def timed(prior, likelihood, mixture, sampler) -> float:
    start = time.perf_counter()
    sample_codes(PriorPair(prior, prior, prior.config.vocab_size - 1), likelihood, mixture, sampler,
                 torch.Generator().manual_seed(0))  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=256)
    parser.add_argument("--candidates", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--top-k", type=int, default=32)
    parser.add_argument("--triples", type=int, default=1_000_000, help="random likelihood counts")
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    prior = make_prior(PriorConfig(args.codes, 49, 3, 128, 2)).eval()
    likelihood = random_likelihood(args.codes, args.triples, 1)
    mixture = torch.randint(args.codes, (49,), generator=torch.Generator().manual_seed(2)).tolist()
    result = {"machine": machine(), "codes": args.codes, "top_k": args.top_k, "length": 49,
              "prior": "GPT-2 3 x 128, 2 heads", "pairs_per_mixture_code": likelihood.slice(0)[0].numel()}  # fmt: skip
    for candidates in args.candidates:
        sampler = Sampler("top_k", candidates, top_k=args.top_k)
        now = timed(prior, likelihood, mixture, sampler)
        kept = separate._posterior, separate.PICK["top_k"]
        separate._posterior, separate.PICK["top_k"] = reference_posterior, reference_top_k
        try:
            before = timed(prior, likelihood, mixture, sampler)
        finally:
            separate._posterior, separate.PICK["top_k"] = kept
        result[f"C{candidates}_seconds"] = round(now, 3)
        result[f"C{candidates}_reference_seconds"] = round(before, 3)
        result[f"C{candidates}_speedup"] = round(before / now, 2)
        print(f"C = {candidates}: {now:.2f} s, reference {before:.2f} s, {before / now:.1f}x")
    write_result(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
