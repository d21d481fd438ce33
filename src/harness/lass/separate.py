"""LASS inference (thesis Algorithm 2) with its samplers, the L2 selection and the refinement.

At each latent position s the log-posterior over the non-zero pairs (z1, z2) of L[:, :, m_s] is

    log p_phi1(z1 | z1_<s) + log p_phi2(z2 | z2_<s) + lambda * log L[z1, z2, m_s]

(lines 5-7; only the pairs with L > 0 can have produced m_s, so the K x K matrix is never
formed). Samplers (line 8):

- ``ancestral``: each of C candidates draws a pair from the posterior;
- ``top_k``: the same, restricted to each candidate's k most probable pairs;
- ``greedy``: one candidate, the most probable pair at each step;
- ``beam``: beam search over pairs with B beams on the summed log-posterior.

Candidates are decoded and the one whose sum best matches the mixture (L2) is kept; the
refinement (Eqs. 5.5-5.6) then optimises the dense code vectors e1, e2 so that
(D(e1) + D(e2)) / 2 approaches y. As in the original code, the step is Adam with learning rate
alpha (halved every 100 steps) on the mean squared error, with a small pull (1e-3) towards the
initial codes; T steps.

Prior re-ranking (ours, not in the thesis): the R candidates closest to the mixture (L2) are each
refined for a few steps, after which all of them fit the mixture about equally well; the one
whose refined sources are most probable under the priors, -log p(Q(E(x1))) - log p(Q(E(x2)))
with Q(E(.)) the VQ-VAE's codes of an image, is kept and refined for the T steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, DynamicLayer

from harness.core.errors import HarnessError
from harness.lass.likelihood import Likelihood
from harness.lass.models import with_bos

SAMPLERS = ("ancestral", "top_k", "greedy", "beam")
HALVE_EVERY = 100  # the refinement's learning rate halves every 100 steps (original code)
CACHE_ROOM = 64  # positions a key/value cache layer holds before it first grows
POSTERIOR_ROWS = 32  # candidates per block of the top-k sampler's posterior


@dataclass(frozen=True)
class Sampler:
    kind: str
    candidates: int = 1  # C (ancestral, top-k) or B (beams)
    top_k: int = 0
    likelihood_scale: float = 1.0  # lambda
    temperature: float = 1.0

    def __post_init__(self):
        if self.kind not in SAMPLERS:
            raise HarnessError(f"unknown sampler {self.kind!r} (one of {', '.join(SAMPLERS)})")
        if self.kind == "top_k" and self.top_k < 1:
            raise HarnessError("the top_k sampler needs k >= 1")
        if self.candidates < 1:
            raise HarnessError("a sampler needs at least one candidate / beam")


class _PreallocatedLayer(DynamicLayer):
    """A key/value cache layer that writes each step into a buffer with room to spare and hands
    attention views of the filled part: the same keys and values as transformers' ``DynamicLayer``,
    which concatenates the whole cache at every step (at 512 candidates x 49 positions that copy
    took a fifth of the sampling's time on one CPU thread)."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.length, self._k, self._v = 0, None, None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        if self._k is None or self.length + new > self._k.shape[-2]:  # grow: twice the room
            room = max(CACHE_ROOM, 2 * (self.length + new))
            k = key_states.new_empty(*key_states.shape[:-2], room, key_states.shape[-1])
            v = value_states.new_empty(*value_states.shape[:-2], room, value_states.shape[-1])
            if self.length:
                k[..., : self.length, :], v[..., : self.length, :] = self.keys, self.values
            self._k, self._v = k, v
        self._k[..., self.length : self.length + new, :] = key_states
        self._v[..., self.length : self.length + new, :] = value_states
        self.length += new
        self.keys, self.values = self._k[..., : self.length, :], self._v[..., : self.length, :]
        return self.keys, self.values

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        if self.is_initialized and self.length:
            self._k, self._v = self._k.index_select(0, beam_idx), self._v.index_select(0, beam_idx)
            self.keys, self.values = self._k[..., : self.length, :], self._v[..., : self.length, :]


def new_cache() -> Cache:
    """An empty key/value cache of ``_PreallocatedLayer`` layers, added as the model needs them."""
    return Cache(layer_class_to_replicate=_PreallocatedLayer)


class PriorPair:
    """The two autoregressive priors with their key/value caches; the same model for both
    sources (the unsupervised setting) runs both in one batch."""

    def __init__(self, prior_1, prior_2, bos: int):
        self.models = (prior_1, prior_2)
        self.bos, self.cache = bos, None

    @torch.no_grad()
    def step(
        self, t1: torch.Tensor, t2: torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed the last tokens ``[n]`` of both streams; log p(next code) ``[n, K]`` of each."""
        k = self.bos  # codes are 0..K-1; the BOS token K is never predicted
        if self.models[0] is self.models[1]:
            if self.cache is None:
                self.cache = new_cache()
            out = self.models[0](input_ids=torch.cat([t1, t2])[:, None], cache=self.cache, use_cache=True)
            self.cache = out.cache
            logits = out.logits[:, -1, :k]
            l1, l2 = logits.chunk(2)
        else:
            caches = self.cache or (new_cache(), new_cache())
            outs = [m(input_ids=t[:, None], cache=c, use_cache=True)
                    for m, t, c in zip(self.models, (t1, t2), caches)]  # fmt: skip
            self.cache = tuple(o.cache for o in outs)
            l1, l2 = (o.logits[:, -1, :k] for o in outs)
        return (torch.log_softmax(l1 / temperature, -1), torch.log_softmax(l2 / temperature, -1))

    def reorder(self, index: torch.Tensor, current: int) -> None:
        """Keep the cache rows ``index`` of the ``current`` sequences of each stream."""
        if self.models[0] is self.models[1]:
            self.cache.reorder_cache(torch.cat([index, index + current]))
        else:
            for cache in self.cache:
                cache.reorder_cache(index)


class Posterior:
    """The log-posterior ``[n, nnz]`` of the n running candidates at one position (module
    docstring), lp1[:, z1] + lp2[:, z2] + lambda * log L, formed on demand: whole (``full``), or
    block of rows by block reduced to each row's k best (``top_k``), which keeps each block in the
    CPU's cache (at 512 candidates x thousands of pairs, 1.5 times faster on one thread here) and
    gives the same numbers, row by row."""

    def __init__(self, lp1, lp2, z1, z2, log_l, scale: float):
        self.lp1, self.lp2, self.z1, self.z2 = lp1, lp2, z1, z2
        self.scaled = scale * log_l

    @property
    def width(self) -> int:
        return int(self.z1.numel())

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """Rows lo..hi, with ``index_select`` (six times faster than indexing ``lp1[:, z1]`` on
        the CPU here)."""
        return (torch.index_select(self.lp1[lo:hi], 1, self.z1)
                .add_(torch.index_select(self.lp2[lo:hi], 1, self.z2)).add_(self.scaled))  # fmt: skip

    def full(self) -> torch.Tensor:
        return self.rows(0, self.lp1.shape[0])

    def top_k(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's ``k`` largest values and their columns, largest first (``torch.topk``)."""
        blocks = [torch.topk(self.rows(lo, lo + POSTERIOR_ROWS), k, dim=-1)
                  for lo in range(0, self.lp1.shape[0], POSTERIOR_ROWS)]  # fmt: skip
        return torch.cat([b.values for b in blocks]), torch.cat([b.indices for b in blocks])


# One function per sampler (line 8 of Algorithm 2): from the log-posterior ``post`` of the n
# running candidates and their path scores, the pair j each candidate continues with, the
# candidates kept (None: all, in order) and the new path scores (the log-posterior summed along
# each candidate's path, what ``posterior_scores`` gives for whole sequences).
Pick = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]


def _extend(scores: torch.Tensor, post: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Path scores ``[n]`` after each candidate continues with its pair ``j`` of ``post``."""
    return scores + post.gather(1, j[:, None])[:, 0]


def draw(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row of ``logits`` ``[n, m]``, drawn with probability softmax(logits), by
    inverting the cumulative distribution at a uniform draw: the same law as
    ``torch.multinomial(softmax(logits), 1)``, which is about nine times slower on the CPU at
    LASS's sizes (128 candidates x thousands of pairs, 49 times per mixture)."""
    cdf = torch.cumsum(torch.softmax(logits, -1), -1)
    u = torch.rand(logits.shape[0], 1, generator=generator, device=logits.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=logits.shape[1] - 1)


def pick_ancestral(
    post: Posterior, sampler: Sampler, generator: torch.Generator, scores: torch.Tensor
) -> Pick:
    """Each candidate draws a pair from its posterior."""
    full = post.full()
    j = draw(full, generator)
    return j, None, _extend(scores, full, j)


def pick_top_k(post: Posterior, sampler: Sampler, generator: torch.Generator, scores: torch.Tensor) -> Pick:
    """Each candidate draws a pair from its ``top_k`` most probable pairs."""
    if sampler.top_k >= post.width:
        return pick_ancestral(post, sampler, generator, scores)
    best, index = post.top_k(sampler.top_k)
    d = draw(best, generator)[:, None]
    return index.gather(1, d)[:, 0], None, _extend(scores, best, d[:, 0])


def pick_greedy(post: Posterior, sampler: Sampler, generator: torch.Generator, scores: torch.Tensor) -> Pick:
    """The most probable pair."""
    full = post.full()
    j = full.argmax(-1)
    return j, None, _extend(scores, full, j)


def pick_beam(post: Posterior, sampler: Sampler, generator: torch.Generator, scores: torch.Tensor) -> Pick:
    """Beam search: the ``candidates`` best extensions of all beams by summed log-posterior."""
    full = post.full()
    total = (scores[:, None] + full).reshape(-1)
    scores, flat = torch.topk(total, min(sampler.candidates, total.numel()))
    return flat % full.shape[1], flat // full.shape[1], scores


PICK = {"ancestral": pick_ancestral, "top_k": pick_top_k, "greedy": pick_greedy, "beam": pick_beam}


@torch.no_grad()
def sample_codes(
    priors: PriorPair,
    likelihood: Likelihood,
    mixture: list[int],
    sampler: Sampler,
    generator: torch.Generator,
    stats: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 2, lines 1-11, for one mixture's codes ``m`` (length S): candidate code
    sequences ``[C, S]`` of each source (C = 1 for greedy; beam search returns its B beams,
    best first). ``stats`` (if given) gets ``fallbacks``, the positions whose mixture code was
    never counted, where the priors alone choose among all K x K pairs, and ``scores`` ``[C]``,
    each candidate's log-posterior summed along its path (``posterior_scores`` of the candidates,
    up to rounding, without a second pass of the priors over them)."""
    k = likelihood.codes
    device = likelihood.device
    pick = PICK[sampler.kind]
    n = 1 if sampler.kind in ("greedy", "beam") else sampler.candidates
    priors.cache = None
    bos = torch.full((n,), priors.bos, dtype=torch.long, device=device)
    seq1 = torch.zeros(n, 0, dtype=torch.long, device=device)
    seq2 = seq1.clone()
    scores = torch.zeros(n, device=device)
    t1, t2 = bos, bos
    for m in mixture:
        lp1, lp2 = priors.step(t1, t2, sampler.temperature)
        z1, z2, log_l = likelihood.slice(int(m))
        if z1.numel() == 0:  # a mixture code never counted: fall back on the priors alone
            if stats is not None:
                stats["fallbacks"] = stats.get("fallbacks", 0) + 1
            grid = torch.arange(k * k, device=device)
            z1, z2, log_l = grid // k, grid % k, torch.zeros(k * k, device=device)
        post = Posterior(lp1, lp2, z1, z2, log_l, sampler.likelihood_scale)
        j, keep, scores = pick(post, sampler, generator, scores)
        if keep is not None:
            priors.reorder(keep, seq1.shape[0])
            seq1, seq2 = seq1[keep], seq2[keep]
        t1, t2 = z1[j], z2[j]
        seq1, seq2 = torch.cat([seq1, t1[:, None]], 1), torch.cat([seq2, t2[:, None]], 1)
    if stats is not None:
        stats["scores"] = scores
    return seq1, seq2


def log_prior(prior, codes: torch.Tensor, codes_k: int, temperature: float = 1.0) -> torch.Tensor:
    """log p(codes) ``[n]`` of code sequences ``[n, S]`` under an autoregressive prior."""
    logits = prior(input_ids=with_bos(codes, codes_k)).logits[:, :-1, :codes_k]
    log_p = torch.log_softmax(logits / temperature, -1)
    return log_p.gather(2, codes[:, :, None])[:, :, 0].sum(1)


@torch.no_grad()
def posterior_scores(
    prior,
    likelihood: Likelihood,
    codes_1: torch.Tensor,
    codes_2: torch.Tensor,
    mixture: torch.Tensor,
    sampler: Sampler,
) -> torch.Tensor:
    """What the samplers maximise, for whole code sequences ``[n, S]`` of both sources against
    the mixture's codes ``[n, S]`` (or ``[S]``, the same for every row): the log-posterior of
    the module docstring summed over the S positions. ``[n]``; -inf where a position's pair has
    L = 0 at its mixture code (no sampler can pick it), and log L = 0 where the mixture code was
    never counted (the samplers' fallback on the priors alone). Scoring the sources' own codes
    this way tells search errors (the truth scores higher than every candidate found) from model
    errors."""
    k = likelihood.codes
    mixture = mixture.expand_as(codes_1)
    log_l = likelihood.log_l(codes_1, codes_2, mixture).to(codes_1.device)
    log_l = torch.where(likelihood.mixture_counted(mixture).to(log_l.device), log_l, 0.0)
    scaled = torch.where(
        torch.isinf(log_l), log_l, sampler.likelihood_scale * log_l
    )  # -inf stays at lambda 0
    t = sampler.temperature
    return log_prior(prior, codes_1, k, t) + log_prior(prior, codes_2, k, t) + scaled.sum(1)


@torch.no_grad()
def select_by_l2(
    vqvae, codes_1: torch.Tensor, codes_2: torch.Tensor, mixture: torch.Tensor, side: int, keep: int = 1
):
    """The ``keep`` candidates whose decoded sums best match the mixture image ``[1, c, h, w]``,
    best first: (e1, e2) dense codes ``[keep, dim, side, side]`` and their indices."""
    e1 = vqvae.codes_to_latents(codes_1.reshape(-1, side, side))
    e2 = vqvae.codes_to_latents(codes_2.reshape(-1, side, side))
    error = (((vqvae.decode_latents(e1) + vqvae.decode_latents(e2)) / 2 - mixture) ** 2).flatten(1).sum(1)
    best = torch.argsort(error, stable=True)[:keep]
    return e1[best], e2[best], best


def refine(
    vqvae,
    e1: torch.Tensor,
    e2: torch.Tensor,
    mixtures: torch.Tensor,
    steps: int,
    alpha: float,
    regularizer: float,
    halve_every: int = HALVE_EVERY,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. 5.5-5.6 on a batch: optimise e1, e2 ``[n, dim, h, w]`` so (D(e1) + D(e2)) / 2 fits
    ``mixtures`` ``[n, c, H, W]``; returns the decoded sources. ``steps = 0`` only decodes."""
    init1, init2 = e1.detach().clone(), e2.detach().clone()
    g1, g2 = init1.clone().requires_grad_(True), init2.clone().requires_grad_(True)
    trainable = [p for p in vqvae.parameters() if p.requires_grad]
    for p in trainable:  # only the codes move
        p.requires_grad_(False)
    opt = torch.optim.Adam([g1, g2], lr=alpha)
    schedule = torch.optim.lr_scheduler.StepLR(opt, halve_every, 0.5)
    try:
        for _ in range(steps):
            x1, x2 = vqvae.decode_latents(g1), vqvae.decode_latents(g2)
            pull = regularizer * torch.mean((g1 - init1) ** 2 + (g2 - init2) ** 2)
            loss = torch.mean(((x1 + x2) / 2 - mixtures) ** 2) + pull
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    finally:
        for p in trainable:
            p.requires_grad_(True)
    with torch.no_grad():
        return vqvae.decode_latents(g1), vqvae.decode_latents(g2)


def rerank_by_prior(
    vqvae, prior, e1: torch.Tensor, e2: torch.Tensor, mixtures: torch.Tensor, steps: int, alpha: float,
    regularizer: float,
) -> torch.Tensor:  # fmt: skip
    """Prior re-ranking (module docstring): of R candidates ``[n, R, dim, h, w]`` per mixture
    ``[n, c, H, W]``, the index ``[n]`` of the one whose sources, refined for ``steps`` steps,
    have the highest log p(Q(E(x1))) + log p(Q(E(x2)))."""
    n, r = e1.shape[:2]
    repeated = mixtures[:, None].expand(n, r, *mixtures.shape[1:]).reshape(n * r, *mixtures.shape[1:])
    x1, x2 = refine(vqvae, e1.flatten(0, 1), e2.flatten(0, 1), repeated, steps, alpha, regularizer)
    with torch.no_grad():
        k = vqvae.config.codes
        z1, z2 = (vqvae.encode(x.clamp(0, 1)).flatten(1) for x in (x1, x2))
        score = log_prior(prior, z1, k) + log_prior(prior, z2, k)
    return score.reshape(n, r).argmax(1)
