"""LASS beam search over audio codes: one key/value cache shared across beams (reordered when
beams are pruned, as ``harness.lass.separate.PriorPair`` does) against re-running both priors on
each beam's whole prefix at every step.

Both run Algorithm 2 with B beams on the same mixture codes, two GPT-2 priors of the embedded
audio size (3 layers x 128, K = 256) with random weights and a random sparse likelihood, and must
pick the same beams; the times of one run are compared. The cost of the uncached search grows
with the square of the sequence length, so the ratio grows with S.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import machine, write_result

from harness.lass.likelihood import Likelihood, SparseCounts
from harness.lass.models import PriorConfig, make_prior
from harness.lass.separate import PriorPair, Sampler, sample_codes


class UncachedPriorPair(PriorPair):
    """The same interface with no cache: each step feeds every beam's whole prefix again."""

    def __init__(self, prior_1, prior_2, bos: int):
        super().__init__(prior_1, prior_2, bos)
        self.prefixes = None

    @torch.no_grad()
    def step(self, t1, t2, temperature):
        if self.cache is None:  # a new search: sample_codes resets the cache to None
            self.prefixes = (t1[:, None], t2[:, None])
            self.cache = True
        else:
            self.prefixes = tuple(torch.cat([p, t[:, None]], 1) for p, t in zip(self.prefixes, (t1, t2)))
        out = [m(input_ids=p).logits[:, -1, : self.bos] for m, p in zip(self.models, self.prefixes)]
        return tuple(torch.log_softmax(o / temperature, -1) for o in out)

    def reorder(self, index, current):
        self.prefixes = tuple(p[index] for p in self.prefixes)


def random_likelihood(codes: int, seed: int) -> Likelihood:
    g = torch.Generator().manual_seed(seed)
    n = 200_000
    z1, z2 = torch.randint(codes, (n,), generator=g), torch.randint(codes, (n,), generator=g)
    m = (torch.maximum(z1, z2) + torch.randint(3, (n,), generator=g)) % codes
    return Likelihood(SparseCounts.empty(codes).add(z1, z2, m))


def timed(priors, likelihood, mixture, sampler) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    c1, c2 = sample_codes(priors, likelihood, mixture, sampler, torch.Generator().manual_seed(0))
    return time.perf_counter() - start, torch.stack([c1, c2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=256)
    parser.add_argument("--beams", type=int, default=16)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--out", help="write the numbers as JSON here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = PriorConfig(args.codes, max(args.lengths), 3, 128, 2)
    priors = [make_prior(config).eval() for _ in range(2)]
    likelihood = random_likelihood(args.codes, 1)
    sampler = Sampler("beam", candidates=args.beams, likelihood_scale=3.0)
    result = {
        "machine": machine(),
        "beams": args.beams,
        "codes": args.codes,
        "prior": "GPT-2 3 x 128, 2 heads",
    }
    for length in args.lengths:
        mixture = torch.randint(args.codes, (length,), generator=torch.Generator().manual_seed(2)).tolist()
        t_cached, cached = timed(PriorPair(*priors, args.codes), likelihood, mixture, sampler)
        t_plain, plain = timed(UncachedPriorPair(*priors, args.codes), likelihood, mixture, sampler)
        result[f"S{length}_cached_seconds"] = round(t_cached, 3)
        result[f"S{length}_uncached_seconds"] = round(t_plain, 3)
        result[f"S{length}_speedup"] = round(t_plain / t_cached, 2)
        result[f"S{length}_same_best_beam"] = bool(torch.equal(cached[:, 0], plain[:, 0]))
        print(f"S = {length}: cached {t_cached:.2f} s, uncached {t_plain:.2f} s, {t_plain / t_cached:.1f}x")
    write_result(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
