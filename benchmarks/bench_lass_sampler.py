"""LASS top-k sampling on MNIST-sized codes, three versions of Algorithm 2's loop:

- now: the priors' keys and values written into a buffer with room to spare
  (``separate.new_cache``), the posterior formed by blocks of candidates and each block reduced
  to its k best at once (``Posterior.top_k``), pairs gathered with ``index_select``, the k best
  drawn from by inverting their cumulative distribution;
- whole: transformers' ``DynamicCache`` (the whole cache concatenated at every step) and the whole
  ``[C, pairs]`` posterior formed before its k best are taken, the version before; it draws the
  same candidates, bit for bit (checked here);
- reference: the straightforward sampler that came first (``lp[:, z]`` indexing, the other pairs
  masked to -inf, then ``torch.multinomial`` over all the mixture code's pairs), same law (the
  tests check the draw against it), other random stream.

All run C candidates over the same 49 mixture codes, a GPT-2 prior of the embedded MNIST size
(3 layers x 128, K = 256) with random weights and a random sparse likelihood; the times of one
run each are compared.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import machine, write_result
from transformers.cache_utils import DynamicCache

from harness.lass import separate
from harness.lass.likelihood import Likelihood, SparseCounts
from harness.lass.models import PriorConfig, make_prior
from harness.lass.separate import PriorPair, Sampler, sample_codes


def reference_top_k(post, sampler, generator, scores):
    whole = post.lp1[:, post.z1] + post.lp2[:, post.z2] + post.scaled
    if sampler.top_k >= whole.shape[1]:
        return torch.multinomial(torch.softmax(whole, -1), 1, generator=generator)[:, 0], None, scores
    kth = torch.topk(whole, sampler.top_k, dim=-1).values[:, -1:]
    probs = torch.softmax(whole.masked_fill(whole < kth, float("-inf")), -1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0], None, scores


def whole_top_k(post, sampler, generator, scores):
    """The version before: the whole posterior, then its k best."""
    whole = post.full()
    best, index = torch.topk(whole, sampler.top_k, dim=-1)
    j = index.gather(1, separate.draw(best, generator)[:, None])[:, 0]
    return j, None, scores + whole.gather(1, j[:, None])[:, 0]


def random_likelihood(codes: int, triples: int, seed: int) -> Likelihood:
    """Uniform random (z1, z2, m) triples: at K = 256 and a million triples about 7,000 pairs per
    mixture code, the mean of the embedded MNIST likelihood (its largest slices hold 20,000)."""
    g = torch.Generator().manual_seed(seed)
    z1, z2, m = (torch.randint(codes, (triples,), generator=g) for _ in range(3))
    return Likelihood(SparseCounts.empty(codes).add(z1, z2, m))


def timed(prior, likelihood, mixture, sampler) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    c1, c2 = sample_codes(PriorPair(prior, prior, prior.config.vocab_size - 1), likelihood, mixture, sampler,
                          torch.Generator().manual_seed(0))  # fmt: skip
    return time.perf_counter() - start, torch.stack([c1, c2])


def patched(pick, cache, *args) -> tuple[float, torch.Tensor]:
    """``timed`` with the top-k sampler's pick and the priors' cache swapped for older ones."""
    kept = separate.PICK["top_k"], separate.new_cache
    separate.PICK["top_k"], separate.new_cache = pick, cache
    try:
        return timed(*args)
    finally:
        separate.PICK["top_k"], separate.new_cache = kept


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
        now, codes = timed(prior, likelihood, mixture, sampler)
        whole, whole_codes = patched(whole_top_k, DynamicCache, prior, likelihood, mixture, sampler)
        before, _ = patched(reference_top_k, DynamicCache, prior, likelihood, mixture, sampler)
        result[f"C{candidates}_seconds"] = round(now, 3)
        result[f"C{candidates}_whole_seconds"] = round(whole, 3)
        result[f"C{candidates}_reference_seconds"] = round(before, 3)
        result[f"C{candidates}_speedup_over_whole"] = round(whole / now, 2)
        result[f"C{candidates}_speedup_over_reference"] = round(before / now, 2)
        result[f"C{candidates}_same_candidates_as_whole"] = bool(torch.equal(codes, whole_codes))
        print(
            f"C = {candidates}: {now:.2f} s, whole {whole:.2f} s ({whole / now:.2f}x, same candidates: "
            f"{torch.equal(codes, whole_codes)}), reference {before:.2f} s ({before / now:.1f}x)"
        )
    write_result(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
