"""LASS on images: MNIST loading, the sparse likelihood, the samplers, the refinement, the
PSNR protocol and the CLI's bad-input paths."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness.core.errors import HarnessError
from harness.lass import data
from harness.lass.evaluate import average_baseline, ceiling_psnr, pair_psnr, separate_mixtures
from harness.lass.likelihood import (
    Likelihood,
    SparseCounts,
    count_likelihood,
    dense_counts,
    likelihood_stats,
)
from harness.lass.models import VQVAE, PriorConfig, VQVAEConfig, make_prior, with_bos
from harness.lass.separate import (
    POSTERIOR_ROWS,
    Posterior,
    PriorPair,
    Sampler,
    _PreallocatedLayer,
    draw,
    log_prior,
    pick_top_k,
    posterior_scores,
    refine,
    rerank_by_prior,
    sample_codes,
)


@pytest.fixture(scope="module")
def mnist():
    return data.package_arrays()


def test_package_mnist_is_the_official_split(mnist):
    assert mnist["train_images"].shape == (60000, 28, 28) and mnist["test_images"].shape == (10000, 28, 28)
    assert mnist["train_images"].dtype == np.uint8 and mnist["train_images"].max() == 255
    # the first training digit is a 5 and the first test digit a 7 (the official files' order)
    assert mnist["train_labels"][0] == 5 and mnist["test_labels"][0] == 7
    assert np.bincount(mnist["test_labels"]).tolist()[:2] == [980, 1135]


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header + array.tobytes())


def test_download_reads_the_idx_files_served_locally(mnist, http_root, tmp_path):
    root, url = http_root
    names = {key: f"{key}.gz" for key in data.IDX_FILES}
    for key, name in names.items():
        _write_idx(root / name, mnist[key])
    from harness.core.download import sha256_of

    spec = {"url": url, "files": {k: {"name": n, "sha256": sha256_of(root / n)} for k, n in names.items()}}
    out = tmp_path / "mnist.npz"
    assert data.prepare_mnist("download", str(out), spec, str(tmp_path / "dl")) == {
        "train": 60000,
        "test": 10000,
    }
    images, labels = data.load_mnist(out, "test")
    assert np.array_equal(np.rint(images[:, 0] * 255).astype(np.uint8), mnist["test_images"])
    assert np.array_equal(labels, mnist["test_labels"])
    # a wrong checksum stops the step and leaves no file
    spec["files"]["test_labels"]["sha256"] = "0" * 64
    (tmp_path / "dl" / "test_labels.gz").unlink()
    with pytest.raises(HarnessError, match="checksum mismatch"):
        data.prepare_mnist("download", str(tmp_path / "other.npz"), spec, str(tmp_path / "dl"))
    assert not (tmp_path / "other.npz").exists()


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(HarnessError, match="magic"):
        data.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"ab")
    with pytest.raises(HarnessError, match="bytes of data"):
        data.read_idx(short)


def test_mixture_pairs_use_each_digit_once():
    pairs = data.mixture_pairs(10000, 5000, seed=3)
    assert pairs.shape == (5000, 2) and len(np.unique(pairs)) == 10000
    assert np.array_equal(pairs, data.mixture_pairs(10000, 5000, seed=3))
    more = data.mixture_pairs(10000, 6000, seed=3)  # the thesis's 12,000 sources of 10,000 digits
    assert np.all(more[:, 0] != more[:, 1])


def test_sparse_counts_equal_dense_counts_and_normalise():
    gen = torch.Generator().manual_seed(0)
    k = 12
    z1, z2 = torch.randint(0, k, (50, 9), generator=gen), torch.randint(0, k, (50, 9), generator=gen)
    m = (z1 + z2 + torch.randint(0, 2, (50, 9), generator=gen)) % k
    counts = SparseCounts.empty(k).add(z1[:20], z2[:20], m[:20]).add(z1[20:], z2[20:], m[20:])
    dense = dense_counts(z1, z2, m, k)
    assert torch.equal(counts.to_dense(), dense) and int(dense.sum()) == 2 * 50 * 9
    assert counts.density == pytest.approx(int((dense > 0).sum()) / k**3)
    assert torch.equal(dense, dense.transpose(0, 1))  # both orders counted: the sum commutes
    likelihood = Likelihood(counts)
    full = torch.zeros(k, k, k)
    for mix in range(k):
        a, b, log_l = likelihood.slice(mix)
        full[a, b, mix] = log_l.exp()
    expected = dense.double() / dense.sum(-1, keepdim=True).clamp(min=1)
    assert torch.allclose(full.double(), expected, atol=1e-6)
    rows = full.sum(-1)
    assert torch.allclose(rows[dense.sum(-1) > 0], torch.ones(1))


def test_likelihood_known_answer_and_bad_codes():
    counts = SparseCounts.empty(4).add(
        torch.tensor([0, 0, 0]), torch.tensor([1, 1, 1]), torch.tensor([2, 2, 3])
    )
    likelihood = Likelihood(counts)
    a, b, log_l = likelihood.slice(2)
    assert {(int(x), int(y)): round(float(v.exp()), 6) for x, y, v in zip(a, b, log_l)} == {
        (0, 1): 0.666667,
        (1, 0): 0.666667,
    }
    assert likelihood.slice(0)[0].numel() == 0
    # L > 0 exactly at the counted triples, in both orders of the pair
    z1, z2, m = (
        torch.tensor([0, 1, 0, 1, 0, 2]),
        torch.tensor([1, 0, 1, 0, 0, 3]),
        torch.tensor([2, 3, 3, 2, 2, 3]),
    )
    assert likelihood.counted(z1, z2, m).tolist() == [True, True, True, True, False, False]
    expected = [np.log(2 / 3), np.log(1 / 3), np.log(1 / 3), np.log(2 / 3), -np.inf, -np.inf]
    assert np.allclose(likelihood.log_l(z1, z2, m).numpy(), expected)  # -inf where never counted
    stats = likelihood_stats(counts, "toy", 3)
    assert stats["codes_used"] == 2 and stats["nonzeros"] == 4  # codes 0 and 1 as sources
    with pytest.raises(HarnessError, match="outside"):
        SparseCounts.empty(4).add(torch.tensor([4]), torch.tensor([0]), torch.tensor([0]))


def test_counts_save_load_and_corrupt_file(tmp_path):
    counts = SparseCounts.empty(8).add(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([5, 6]))
    counts.save(str(tmp_path / "c.pt"))
    again = SparseCounts.load(str(tmp_path / "c.pt"))
    assert torch.equal(again.keys, counts.keys) and torch.equal(again.counts, counts.counts)
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(HarnessError, match="not a readable"):
        SparseCounts.load(str(tmp_path / "bad.pt"))


@pytest.fixture(scope="module")
def prior():
    torch.manual_seed(0)
    return make_prior(PriorConfig(codes=9, length=5, n_layer=1, n_embd=16, n_head=2)).eval()


def test_cached_prior_steps_equal_a_full_forward(prior):
    pair = PriorPair(prior, prior, bos=9)
    seq = torch.tensor([[1, 2, 3, 4], [8, 0, 1, 2]])
    bos = torch.full((2,), 9)
    steps = [
        pair.step(bos if i == 0 else seq[:, i - 1], bos if i == 0 else seq[:, i - 1], 1.0)[0]
        for i in range(4)
    ]
    full = torch.log_softmax(prior(input_ids=with_bos(seq, 9)).logits[:, :4, :9], -1)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


def test_the_preallocated_cache_gives_the_dynamic_caches_numbers_through_reorders(prior):
    # the same log-probabilities, bit for bit, as transformers' own cache, also after beam-search
    # reorders and past the first buffer's room (CACHE_ROOM is 64; the prior holds 6 positions,
    # so a prior with 80 positions is made here)
    from transformers.cache_utils import DynamicCache

    torch.manual_seed(1)
    long_prior = make_prior(PriorConfig(codes=9, length=79, n_layer=2, n_embd=16, n_head=2)).eval()
    ours, theirs = PriorPair(long_prior, long_prior, 9), PriorPair(long_prior, long_prior, 9)
    theirs.cache = DynamicCache()
    gen = torch.Generator().manual_seed(0)
    t = torch.full((3,), 9)
    for step in range(80):
        got, want = ours.step(t, t, 1.0), theirs.step(t, t, 1.0)
        assert all(torch.equal(a, b) for a, b in zip(got, want)), step
        if step % 7 == 3:  # keep rows as beam search does
            keep = torch.randint(0, 3, (3,), generator=gen)
            ours.reorder(keep, 3)
            theirs.reorder(keep, 3)
        t = torch.randint(0, 9, (3,), generator=gen)
    assert isinstance(ours.cache.layers[0], _PreallocatedLayer) and ours.cache.get_seq_length() == 80


def test_the_posteriors_top_k_by_blocks_equals_top_k_of_the_whole():
    torch.manual_seed(0)
    n, k, pairs = 2 * POSTERIOR_ROWS + 5, 9, 40
    lp1, lp2 = torch.log_softmax(torch.randn(n, k), -1), torch.log_softmax(torch.randn(n, k), -1)
    z1, z2, log_l = torch.randint(0, k, (pairs,)), torch.randint(0, k, (pairs,)), -torch.rand(pairs)
    post = Posterior(lp1, lp2, z1, z2, log_l, 0.5)
    whole = lp1[:, z1] + lp2[:, z2] + 0.5 * log_l
    assert torch.equal(post.full(), whole)
    values, index = post.top_k(6)
    want = torch.topk(whole, 6, dim=-1)
    assert torch.equal(values, want.values) and torch.equal(index, want.indices)


def _one_to_one_likelihood(k, half):
    """Mixture code m = z1 * half + z2 for z1, z2 < half: only (z1, z2) and (z2, z1) make m."""
    z1, z2, m = [], [], []
    for a in range(half):
        for b in range(half):
            z1.append(a)
            z2.append(b)
            m.append(a * half + b)
    return Likelihood(SparseCounts.empty(k).add(torch.tensor(z1), torch.tensor(z2), torch.tensor(m)))


@pytest.mark.parametrize(
    "sampler",
    [Sampler("greedy"), Sampler("beam", 3), Sampler("ancestral", 5), Sampler("top_k", 5, top_k=1)],
    ids=lambda s: s.kind,
)
def test_samplers_keep_to_pairs_the_likelihood_allows(prior, sampler):
    # with K = 9 codes and half = 3, code m = 3 a + b is made by (a, b) or (b, a) only
    likelihood = _one_to_one_likelihood(9, 3)
    mixture = [4, 2, 3, 0, 5]  # pairs {1,1}, {0,2}, {1,0}, {0,0}, {1,2}
    c1, c2 = sample_codes(
        PriorPair(prior, prior, 9), likelihood, mixture, sampler, torch.Generator().manual_seed(1)
    )
    assert c1.shape == c2.shape and c1.shape[1] == 5
    allowed = [{(1, 1)}, {(0, 2), (2, 0)}, {(1, 0), (0, 1)}, {(0, 0)}, {(1, 2), (2, 1)}]
    for row1, row2 in zip(c1.tolist(), c2.tolist()):
        assert all((a, b) in ok for a, b, ok in zip(row1, row2, allowed))


@pytest.mark.parametrize(
    "sampler",
    [
        Sampler("greedy"),
        Sampler("beam", 4, likelihood_scale=2.0),
        Sampler("ancestral", 6, temperature=0.7),
        Sampler("top_k", 6, top_k=3, likelihood_scale=0.5),
    ],
    ids=lambda s: s.kind,
)
def test_the_sampler_sums_each_candidates_log_posterior_along_its_path(prior, sampler):
    # what the search-error count compares with the truth's score: the candidates' scores summed
    # step by step equal posterior_scores of their whole sequences, fallback steps included
    torch.manual_seed(0)
    k = 9
    z = torch.randint(0, k, (300, 5))
    counts = SparseCounts.empty(k).add(z, torch.randint(0, k, (300, 5)), torch.randint(0, 7, (300, 5)))
    likelihood = Likelihood(counts)  # mixture codes 7 and 8 never counted
    mixture = [0, 8, 2, 7, 4]
    stats = {"fallbacks": 0}
    c1, c2 = sample_codes(PriorPair(prior, prior, k), likelihood, mixture, sampler,
                          torch.Generator().manual_seed(3), stats)  # fmt: skip
    assert stats["fallbacks"] == 2
    want = posterior_scores(prior, likelihood, c1, c2, torch.tensor(mixture), sampler)
    assert stats["scores"].shape == want.shape and torch.isfinite(want).all()
    assert torch.allclose(stats["scores"], want, atol=1e-4)


def test_draw_follows_the_softmax_and_top_k_renormalises_over_the_k_best():
    # two rows with known laws: 40,000 draws each land within 4 standard errors of every probability
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05, 0.0], [0.1, 0.0, 0.2, 0.3, 0.4]]))
    n = 40_000
    gen = torch.Generator().manual_seed(0)
    drawn = draw(logits.repeat_interleave(n, 0), gen).reshape(2, n)
    for row, law in zip(drawn, torch.softmax(logits, -1)):
        freq = torch.bincount(row, minlength=5).double() / n
        assert torch.all((freq - law).abs() <= 4 * torch.sqrt(law * (1 - law) / n) + 1e-12)
        assert freq[law == 0].sum() == 0  # impossible entries are never drawn
    # top-k with k = 2: only the two best of each row, in proportion 0.5 : 0.3 and 0.4 : 0.3
    rows, none = logits.repeat_interleave(n, 0), torch.zeros(2 * n, 1)  # lp2 = 0, log L = 0
    post = Posterior(rows, none, torch.arange(5), torch.zeros(5, dtype=torch.long), torch.zeros(5), 1.0)
    picked, _, _ = pick_top_k(post, Sampler("top_k", 1, top_k=2), gen, torch.zeros(1))
    first, second = picked.reshape(2, n)
    assert set(first.tolist()) == {0, 1} and set(second.tolist()) == {3, 4}
    assert abs(float((first == 0).double().mean()) - 0.5 / 0.8) < 0.01
    assert abs(float((second == 4).double().mean()) - 0.4 / 0.7) < 0.01


def test_a_mixture_code_never_counted_falls_back_on_the_priors_and_is_counted(prior):
    likelihood = _one_to_one_likelihood(9, 3)  # codes 0..8 counted as mixtures: every one
    sparse = Likelihood(SparseCounts.empty(9).add(torch.tensor([1]), torch.tensor([1]), torch.tensor([4])))
    stats = {"fallbacks": 0}
    pair = PriorPair(prior, prior, 9)
    c1, c2 = sample_codes(pair, sparse, [4, 2, 4, 7, 0], Sampler("greedy"), torch.Generator(), stats)
    assert stats["fallbacks"] == 3 and c1[0, 0] == 1 and c1[0, 2] == 1  # 2, 7 and 0 were never counted
    # posterior_scores agrees with the sampler: log L = 0 at the fallback steps, log 1 = 0 at
    # the two counted ones, so the score is the priors' alone; a pair never counted at a counted
    # mixture code is impossible
    codes = torch.cat([c1, c2])
    with torch.no_grad():
        log_p = torch.log_softmax(prior(input_ids=with_bos(codes, 9)).logits[:, :-1, :9], -1)
    priors_only = float(log_p.gather(2, codes[:, :, None]).sum())
    mix = torch.tensor([4, 2, 4, 7, 0])
    assert sparse.mixture_counted(mix).tolist() == [True, False, True, False, False]
    got = posterior_scores(prior, sparse, c1, c2, mix, Sampler("greedy"))
    assert abs(float(got) - priors_only) < 1e-4
    c2[0, 1] = (c2[0, 1] + 1) % 9  # any pair at a fallback step stays possible
    assert torch.isfinite(posterior_scores(prior, sparse, c1, c2, mix, Sampler("greedy"))).all()
    c2[0, 0] = 2  # (1, 2) never made code 4
    assert posterior_scores(prior, sparse, c1, c2, mix, Sampler("greedy")) == -np.inf
    stats = {"fallbacks": 0}
    sample_codes(pair, likelihood, [4, 2, 4, 7, 0], Sampler("greedy"), torch.Generator(), stats)
    assert stats["fallbacks"] == 0


def test_beam_search_returns_the_best_path_and_greedy_is_one_beam(prior):
    torch.manual_seed(0)
    k = 9
    z = torch.randint(0, k, (400, 5))
    counts = SparseCounts.empty(k).add(z, torch.randint(0, k, (400, 5)), torch.randint(0, k, (400, 5)))
    likelihood = Likelihood(counts)
    mixture = [0, 1, 2, 3, 4]
    pair = PriorPair(prior, prior, k)
    gen = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def score(s1, s2):  # log-posterior of one path, recomputed without the cache
        lp1 = torch.log_softmax(prior(input_ids=with_bos(s1[None], k)).logits[0, :5, :k], -1)
        lp2 = torch.log_softmax(prior(input_ids=with_bos(s2[None], k)).logits[0, :5, :k], -1)
        total = 0.0
        for s, m in enumerate(mixture):
            a, b, log_l = likelihood.slice(m)
            hit = (a == s1[s]) & (b == s2[s])
            total += float(lp1[s, s1[s]] + lp2[s, s2[s]] + log_l[hit][0])
        return total

    b1, b2 = sample_codes(pair, likelihood, mixture, Sampler("beam", 8), gen)
    scores = [score(b1[i], b2[i]) for i in range(len(b1))]
    assert scores == sorted(scores, reverse=True)
    g1, g2 = sample_codes(pair, likelihood, mixture, Sampler("greedy"), gen)
    assert scores[0] >= score(g1[0], g2[0]) - 1e-5
    # posterior_scores is the same sum for all beams at once; lambda scales log L only, and a
    # pair never counted at its mixture code makes the whole path impossible
    got = posterior_scores(prior, likelihood, b1, b2, torch.tensor(mixture), Sampler("beam", 8))
    assert torch.allclose(got, torch.tensor(scores), atol=1e-4)
    log_l = likelihood.log_l(b1, b2, torch.tensor(mixture).expand_as(b1)).sum(1)
    doubled = posterior_scores(
        prior, likelihood, b1, b2, torch.tensor(mixture), Sampler("beam", 8, likelihood_scale=2)
    )
    assert torch.allclose(doubled, got + log_l, atol=1e-4)
    one_to_one = _one_to_one_likelihood(9, 3)  # code 3 a + b only from (a, b) or (b, a)
    s1, s2, m = (
        torch.tensor([[1, 0, 1, 0, 1]]),
        torch.tensor([[1, 2, 0, 0, 2]]),
        torch.tensor([4, 2, 3, 0, 5]),
    )
    assert torch.isfinite(posterior_scores(prior, one_to_one, s1, s2, m, Sampler("greedy"))).all()
    s2[0, 3] = 1  # (0, 1) never made code 0
    assert posterior_scores(prior, one_to_one, s1, s2, m, Sampler("greedy")) == -np.inf
    o1, o2 = sample_codes(pair, likelihood, mixture, Sampler("beam", 1), gen)
    assert torch.equal(o1, g1) and torch.equal(o2, g2)


def test_refinement_fits_the_mixture():
    torch.manual_seed(0)
    vqvae = VQVAE(VQVAEConfig(codes=8, dim=4, beta=0.25, decay=0.99, dead_code=2, channels=1)).eval()
    with torch.no_grad():  # a mixture the decoder can make exactly, from other dense codes
        x = (
            vqvae.decode_latents(torch.randn(2, 4, 7, 7)) + vqvae.decode_latents(torch.randn(2, 4, 7, 7))
        ) / 2
    e1 = vqvae.codes_to_latents(torch.randint(0, 8, (2, 7, 7)))
    e2 = vqvae.codes_to_latents(torch.randint(0, 8, (2, 7, 7)))

    def error(a, b):
        return float((((a + b) / 2 - x) ** 2).mean())

    d1, d2 = refine(vqvae, e1, e2, x, steps=0, alpha=0.1, regularizer=1e-3)
    r1, r2 = refine(vqvae, e1, e2, x, steps=100, alpha=0.1, regularizer=1e-3)
    assert torch.allclose(d1, vqvae.decode_latents(e1)) and error(r1, r2) < 0.3 * error(d1, d2)
    assert all(p.requires_grad for p in vqvae.parameters())  # the model is left as it was


def test_separation_without_the_ceiling_gives_the_same_separations(mnist):
    # the ceiling refines the sources' own codes apart from the sampler's: leaving it out (the
    # validation runs of Table 5.3) must change nothing else, not even the random stream
    from harness.lass.config import RefineSettings

    torch.manual_seed(0)
    vqvae = VQVAE(VQVAEConfig(codes=8, dim=4, beta=0.25, decay=0.99, dead_code=2, channels=1)).eval()
    prior = make_prior(PriorConfig(codes=8, length=49, n_layer=1, n_embd=16, n_head=2)).eval()
    images = mnist["train_images"][:40].astype(np.float32)[:, None] / 255
    counts, _ = count_likelihood(vqvae, images, epochs=2, batch=10, seed=0)
    likelihood = Likelihood(counts)
    x1, x2 = torch.from_numpy(images[:3]), torch.from_numpy(images[3:6])
    args = (vqvae, prior, likelihood, x1, x2, Sampler("top_k", 4, top_k=2), RefineSettings(5, 0.1, 1e-3), 7)
    with_bound = separate_mixtures(*args, batch=2)
    without = separate_mixtures(*args, batch=2, ceiling=False)
    assert torch.equal(with_bound[0], without[0]) and torch.equal(with_bound[1], without[1])
    for full, lean in zip(with_bound[2], without[2]):
        assert "psnr_ceiling" in full and "psnr_ceiling" not in lean
        assert {k: v for k, v in full.items() if k != "psnr_ceiling"} == lean
        assert full["truth_possible"] in (0, 1) and full["search_error"] in (0, 1)
        assert full["search_error"] <= full["truth_possible"]  # only a possible truth outscores
    # the prior re-ranking (ours) is scored beside the thesis's protocol, which it leaves as it was
    from harness.lass.config import RerankSettings

    timing = {}
    reranked = separate_mixtures(*args, batch=2, rerank=RerankSettings(3, 2), timing=timing)
    assert torch.equal(reranked[0], with_bound[0]) and torch.equal(reranked[1], with_bound[1])
    for full, rows in zip(with_bound[2], reranked[2]):
        assert {k: v for k, v in rows.items() if k not in ("psnr_reranked", "rerank_choice")} == full
        assert rows["rerank_choice"] in (0, 1, 2)
        if rows["rerank_choice"] == 0:  # L2's own choice: its separation is reused
            assert rows["psnr_reranked"] == rows["psnr"]
    assert timing["rerank_seconds"] > 0
    one = separate_mixtures(*args, batch=2, rerank=RerankSettings(1, 2))  # one candidate: nothing to re-rank
    assert one[2] == with_bound[2]
    # the ceiling computed apart (the baselines step's, beside the test run): the same numbers
    apart = ceiling_psnr(vqvae, x1, x2, RefineSettings(5, 0.1, 1e-3), batch=2)
    assert [round(float(v), 4) for v in apart] == [r["psnr_ceiling"] for r in with_bound[2]]
    assert [round(float(v), 4) for v in ceiling_psnr(vqvae, x1, x2, RefineSettings(0, 0.1, 1e-3))] != [
        r["psnr_ceiling"] for r in with_bound[2]
    ]  # and it does refine: without the steps the sources' own codes only decode


def test_prior_reranking_keeps_the_candidate_the_prior_scores_highest(tmp_path, mnist):
    from harness.lass.config import VQVAESettings
    from harness.lass.models import load_vqvae
    from harness.lass.train import train_vqvae
    from harness.train.loop import RunFiles

    # a VQ-VAE trained a little, so that different codes decode to images that encode differently
    images = mnist["train_images"][:300, None].astype(np.float32) / 255
    settings = VQVAESettings(codes=8, dim=4, beta=0.25, decay=0.99, dead_code=2, steps=40, batch_size=16, lr=3e-3,
                             checkpoint_every=40)  # fmt: skip
    files = RunFiles(*(str(tmp_path / f"vq.{ext}") for ext in ("pt", "csv", "json", "ckpt")))
    train_vqvae(images[:250], images[250:], settings, 7, files, "cpu")
    vqvae = load_vqvae(files.model, "cpu")
    torch.manual_seed(0)
    prior = make_prior(PriorConfig(codes=8, length=49, n_layer=1, n_embd=16, n_head=2)).eval()
    e1, e2 = (vqvae.codes_to_latents(torch.randint(0, 8, (6, 7, 7))).reshape(2, 3, 4, 7, 7) for _ in range(2))
    mixtures = torch.rand(2, 1, 28, 28)

    def score(e):  # log p of the codes of one candidate's decoded source
        with torch.no_grad():
            return float(
                log_prior(prior, vqvae.encode(vqvae.decode_latents(e[None]).clamp(0, 1)).flatten(1), 8)
            )

    # without refinement steps, each mixture keeps its candidate of highest log p(x1) + log p(x2)
    totals = [[score(e1[i, j]) + score(e2[i, j]) for j in range(3)] for i in range(2)]
    assert all(len(set(t)) == 3 for t in totals)  # no ties: the order of the candidates matters
    expected = [int(np.argmax(t)) for t in totals]
    assert rerank_by_prior(vqvae, prior, e1, e2, mixtures, 0, 0.1, 1e-3).tolist() == expected
    # the same candidates in another order: the same ones are kept
    order = torch.tensor([2, 0, 1])
    again = rerank_by_prior(vqvae, prior, e1[:, order], e2[:, order], mixtures, 0, 0.1, 1e-3)
    assert order[again].tolist() == expected
    # with refinement steps, the scored sources are the refined ones: a candidate refined towards
    # a mixture the decoder makes exactly from another candidate's codes can change the choice,
    # but the choice is always one of the candidates
    assert set(rerank_by_prior(vqvae, prior, e1, e2, mixtures, 5, 0.1, 1e-3).tolist()) <= {0, 1, 2}


def test_pair_psnr_known_answer_and_average_baseline():
    zeros, ones = torch.zeros(3, 1, 28, 28), torch.ones(3, 1, 28, 28)
    # the Average baseline gives 0.5 everywhere: MSE 0.25 for both, 10 log10(4) = 6.02 dB
    assert torch.allclose(
        average_baseline(zeros, ones), torch.full((3,), 10 * np.log10(4), dtype=torch.float64)
    )
    near = ones - 0.1  # 20 dB from ones; zeros estimated exactly would be infinite, so 0.1 too
    got = pair_psnr(near, zeros + 0.1, ones, zeros)
    assert torch.allclose(got, torch.full((3,), 20.0, dtype=torch.float64))
    assert torch.equal(got, pair_psnr(zeros + 0.1, near, ones, zeros))  # order of estimates is free


def test_table_5_2_pairs_lass_with_the_average_baseline_mixture_by_mixture(tmp_path):
    from harness.lass.report import _paired, _same_mixtures

    header = "mixture,source_1,source_2,average_psnr\n"
    (tmp_path / "base.csv").write_text(header + "0,4,7,15.0\n1,2,9,14.0\n")
    (tmp_path / "test.csv").write_text("mixture,source_1,source_2,psnr\n0,4,7,21.0\n1,2,9,18.0\n")
    average = _same_mixtures(str(tmp_path / "base.csv"), str(tmp_path / "test.csv"), "average_psnr")
    # differences 6 and 4: mean +5, standard deviation sqrt(2), standard error sqrt(2) / sqrt(2) = 1
    assert _paired(np.array([21.0, 18.0]) - average) == "+5.0 ± 1.0"
    assert _paired(np.array([-0.25])) == "-0.2"  # one mixture: no standard error
    (tmp_path / "swapped.csv").write_text(header + "0,2,9,14.0\n1,4,7,15.0\n")
    with pytest.raises(HarnessError, match="do not hold the same mixtures in the same order"):
        _same_mixtures(str(tmp_path / "swapped.csv"), str(tmp_path / "test.csv"), "average_psnr")


def test_vqvae_training_resumes_after_a_kill(tmp_path, mnist):
    from harness.lass.config import VQVAESettings
    from harness.lass.train import train_vqvae
    from harness.train.loop import RunFiles

    images = mnist["train_images"][:300, None].astype(np.float32) / 255
    settings = VQVAESettings(codes=16, dim=8, beta=0.25, decay=0.99, dead_code=2, steps=12, batch_size=8, lr=1e-3,
                             checkpoint_every=4)  # fmt: skip

    def run(name, stop_after=None):
        files = RunFiles(*(str(tmp_path / f"{name}.{ext}") for ext in ("pt", "csv", "json", "ckpt")))
        return train_vqvae(images[:250], images[250:], settings, 7, files, "cpu", stop_after=stop_after)

    assert run("a") is True
    assert run("b", stop_after=5) is False and (tmp_path / "b.ckpt").exists()
    assert run("b") is True and not (tmp_path / "b.ckpt").exists()
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


RUNTIME = ("--threads", "1", "--device", "cpu")  # every torch step states them (no defaults)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "lass", *args], capture_output=True, text=True
    )


def test_cli_bad_input_stops_with_one_line(tmp_path):
    import json

    from harness.core.config import load_config

    lass = load_config("config.yaml")["lass"]
    prior, likelihood = json.dumps(lass["mnist"]["prior"]), json.dumps(lass["mnist"]["likelihood"])
    (tmp_path / "model.pt").write_bytes(b"junk")
    out = _cli("train-prior", "--data", str(tmp_path / "none.npz"), "--seed", "1", "--settings", prior, *RUNTIME,
               "--valid", "5", "--vqvae", "x", "--out", "a", "--history", "b", "--meta", "c", "--checkpoint", "d")  # fmt: skip
    assert out.returncode == 2 and out.stderr.splitlines() == [
        f"harness: error: --data {tmp_path / 'none.npz'}: no such file"
    ]
    out = _cli("train-prior", "--data", str(tmp_path / "none.npz"), "--seed", "1", "--settings", "{}", *RUNTIME,
               "--valid", "5", "--vqvae", "x", "--out", "a", "--history", "b", "--meta", "c", "--checkpoint", "d")  # fmt: skip
    assert (
        out.returncode == 2 and "--settings: value: top level: 'n_layer' is a required property" in out.stderr
    )
    np.savez(tmp_path / "m.npz", nothing=np.zeros(1))
    (tmp_path / "x.pt").write_bytes(b"junk")
    out = _cli("likelihood", "--data", str(tmp_path / "m.npz"), "--seed", "1", "--vqvae", str(tmp_path / "x.pt"),
               "--settings", likelihood, *RUNTIME, "--out", "a", "--meta", "b")  # fmt: skip
    assert out.returncode == 2 and "not a torch file" in out.stderr
    torch.save({"state": 1}, tmp_path / "model.pt")
    np.savez(tmp_path / "c.npz", nothing=np.zeros(1))
    args = ["--data", str(tmp_path / "m.npz"), "--seed", "1", "--vqvae", str(tmp_path / "model.pt"), "--prior",
            str(tmp_path / "model.pt"), "--counts", str(tmp_path / "c.npz"), "--repeats", "2", "--sampler",
            json.dumps({"kind": "greedy", "candidates": 1}), "--refine", json.dumps(lass["refine"]), "--out",
            str(tmp_path / "o.json"), "--threads", "1"]  # fmt: skip
    out = _cli("timing", *args, "--device", "cpu")
    assert out.returncode == 2 and "model.pt is not a VQ-VAE model file" in out.stderr, out.stderr
    out = _cli("timing", *args, "--device", "cuda")
    if not torch.cuda.is_available():
        assert out.returncode == 2 and "no CUDA device" in out.stderr
    separate = [*args[: args.index("--repeats")], "--mixtures", "2", "--sampler", json.dumps({"kind": "greedy", "candidates": 1}),
                "--refine", json.dumps(lass["refine"]), "--csv", str(tmp_path / "o.csv"), *RUNTIME]  # fmt: skip
    out = _cli("separate", *separate, "--rerank", json.dumps({"candidates": -1, "steps": 5}))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--rerank" in out.stderr, out.stderr
    out = _cli("baselines", "--data", str(tmp_path / "m.npz"), "--seed", "1", "--threads", "1", "--mixtures", "2",
               "--nmf", json.dumps(lass["nmf"]), "--vqvae", str(tmp_path / "model.pt"), "--csv", str(tmp_path / "b.csv"))  # fmt: skip
    assert out.returncode == 2 and "--vqvae and --refine go together" in out.stderr, out.stderr
    assert not (tmp_path / "b.csv").exists()
    # the report takes a test run without the ceiling (the baselines step computes it) and without
    # the prior re-ranking, and refuses baselines without the ceiling
    pair = "mixture,source_1,source_2"
    (tmp_path / "t.csv").write_text(
        f"{pair},psnr,psnr_unrefined,true_pair_counted,fallbacks,truth_possible,search_error\n0,1,2,20,15,1,0,1,0\n"
    )
    (tmp_path / "b.csv").write_text(f"{pair},average_psnr,nmf_psnr\n0,1,2,15,11\n")
    (tmp_path / "j.json").write_text("{}")
    j = str(tmp_path / "j.json")
    out = _cli("report", "--test-csv", str(tmp_path / "t.csv"), "--baselines-csv", str(tmp_path / "b.csv"),
               "--likelihood-meta", j, "--test-summary", j, "--test-sampler", "top_k32", "--sampler-names", '{"top_k32": "Top-k"}',
               "--timing", j, "--timing-thesis-settings", j, "--estimates", str(tmp_path / "m.npz"),
               "--out-dir", str(tmp_path / "r"), "--figure", str(tmp_path / "f.png"))  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(
        f"harness: error: --baselines-csv {tmp_path / 'b.csv'}: no column 'psnr_ceiling'"
    )
    out = _cli(
        "data",
        "--dataset",
        "mnist",
        "--spec",
        "{bad json",
        "--downloads",
        "d",
        "--out",
        str(tmp_path / "x.npz"),
    )
    assert out.returncode == 2 and "argument --spec: value is not JSON" in out.stderr
    with pytest.raises(HarnessError, match="unknown sampler"):
        Sampler("nucleus")
    for bad, cause in ((dict(lr_schedule="constant", warmup=10), "cosine lr_schedule only"),
                       (dict(warmup=lass["mnist"]["prior"]["steps"]), "between 0 and steps - 1")):  # fmt: skip
        out = _cli("train-prior", "--data", str(tmp_path / "m.npz"), "--seed", "1", "--settings",
                   json.dumps({**lass["mnist"]["prior"], **bad}), *RUNTIME, "--valid", "5", "--vqvae", str(tmp_path / "model.pt"),
                   "--out", "a", "--history", "b", "--meta", "c", "--checkpoint", "d")  # fmt: skip
        assert out.returncode == 2 and cause in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


# ----------------------------------------------------------------------------- CelebA (thesis scale)
def _celeba_fixture(folder, n=12):
    """A CelebA-shaped zip (178 x 218 aligned JPEGs): a red border around a 140 x 140 centre of
    one colour per image, and the official partition file (8 train, 2 valid, 2 test)."""
    import io
    import zipfile

    from PIL import Image

    colours = [(20 * i % 200, (200 - 15 * i) % 200, (40 + 10 * i) % 200) for i in range(n)]
    with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as archive:
        for i, colour in enumerate(colours):
            image = np.zeros((218, 178, 3), np.uint8)
            image[:] = (255, 0, 0)
            top, left = (218 - 140) // 2, (178 - 140) // 2
            image[top : top + 140, left : left + 140] = colour
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="JPEG", quality=95)
            archive.writestr(f"img_align_celeba/{i + 1:06d}.jpg", buf.getvalue())
    lines = [f"{i + 1:06d}.jpg {0 if i < 8 else 1 if i < 10 else 2}" for i in range(n)]
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return colours


def _celeba_spec(url="", local_path=""):
    return {"url": {"images": f"{url}/img_align_celeba.zip", "partition": f"{url}/list_eval_partition.txt"},
            "files": {"images": {"name": "img_align_celeba.zip", "sha256": ""},
                      "partition": {"name": "list_eval_partition.txt", "sha256": ""}},
            "local_path": local_path, "crop": 140, "size": 32}  # fmt: skip


def test_celeba_download_crops_the_centre_and_splits_by_partition(http_root, tmp_path):
    root, url = http_root
    colours = _celeba_fixture(root)
    out = tmp_path / "celeba.npz"
    assert data.prepare_celeba(_celeba_spec(url), str(out), str(tmp_path / "dl")) == {
        "train": 8,
        "valid": 2,
        "test": 2,
    }
    train, valid = data.load_split(out, "train"), data.load_split(out, "valid")
    assert train.shape == (8, 3, 32, 32) and valid.shape == (2, 3, 32, 32)
    # the red border is cropped away: inside a one-pixel frame (JPEG chroma bleeds at the crop
    # edge) every pixel is the image's centre colour
    for i, image in enumerate(train):
        assert np.abs(image[:, 1:-1, 1:-1] * 255 - np.array(colours[i])[:, None, None]).max() < 12
    with pytest.raises(HarnessError, match="no 'other' split"):
        data.load_split(out, "other")


def test_celeba_local_copy_and_bad_files(tmp_path):
    _celeba_fixture(tmp_path)
    spec = _celeba_spec(local_path=str(tmp_path))
    assert data.prepare_celeba(spec, str(tmp_path / "a.npz"), "unused")["test"] == 2
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(HarnessError, match="expected '<file> <0|1|2>'"):
        data.prepare_celeba(spec, str(tmp_path / "b.npz"), "unused")
    (tmp_path / "list_eval_partition.txt").write_text("999999.jpg 0\n")
    with pytest.raises(HarnessError, match="missing from the zip"):
        data.prepare_celeba(spec, str(tmp_path / "b.npz"), "unused")
    (tmp_path / "img_align_celeba.zip").write_bytes(b"junk")
    with pytest.raises(HarnessError, match="not a zip archive"):
        data.prepare_celeba(spec, str(tmp_path / "b.npz"), "unused")
    assert not (tmp_path / "b.npz").exists()


def test_celeba_chain_through_the_cli_scores_fid(tmp_path, inception_weights):
    """The thesis-scale CelebA steps on a tiny CelebA-shaped set: 3-channel 32 x 32 images give an
    8 x 8 code grid, the prior reads 64 codes, and the separation is scored by FID."""
    weights, _ = inception_weights
    _celeba_fixture(tmp_path, n=40)
    t = str(tmp_path)
    lines = [f"{i + 1:06d}.jpg {0 if i < 30 else 1}" for i in range(40)]
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")

    def ok(*args):
        out = _cli(*args)
        assert out.returncode == 0, out.stderr[-2000:]

    ok("data", "--dataset", "celeba", "--spec", json.dumps(_celeba_spec(local_path=t)), "--downloads", t,
       "--out", f"{t}/c.npz")  # fmt: skip
    small = {"steps": 4, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2}
    ok("train-vqvae", "--data", f"{t}/c.npz", "--seed", "1", "--valid", "5", *RUNTIME, "--settings",
       json.dumps({"codes": 16, "dim": 8, "beta": 0.25, "decay": 0.99, "dead_code": 2, **small}), "--out", f"{t}/v.pt", "--history", f"{t}/v.csv",
       "--meta", f"{t}/v.json", "--checkpoint", f"{t}/v.ckpt")  # fmt: skip
    ok("train-prior", "--data", f"{t}/c.npz", "--seed", "1", "--valid", "5", *RUNTIME, "--vqvae", f"{t}/v.pt", "--settings",
       json.dumps({"n_layer": 1, "n_embd": 8, "n_head": 2, "lr_schedule": "cosine", "warmup": 1, **small}), "--out", f"{t}/p.pt", "--history",
       f"{t}/p.csv", "--meta", f"{t}/p.json", "--checkpoint", f"{t}/p.ckpt")  # fmt: skip
    ok("likelihood", "--dataset", "celeba", "--data", f"{t}/c.npz", "--seed", "1", *RUNTIME, "--vqvae", f"{t}/v.pt",
       "--settings", '{"epochs": 1, "batch": 10}', "--out", f"{t}/l.pt", "--meta", f"{t}/l.json")  # fmt: skip
    ok("separate", "--data", f"{t}/c.npz", "--seed", "1", *RUNTIME, "--vqvae", f"{t}/v.pt", "--prior", f"{t}/p.pt",
       "--counts", f"{t}/l.pt", "--split", "valid", "--mixtures", "3", "--sampler",
       '{"kind": "top_k", "candidates": 4, "top_k": 8, "likelihood_scale": 3.0}', "--refine",
       '{"steps": 0, "alpha": 0.1, "regularizer": 0.001}', "--inception-weights", str(weights), "--csv", f"{t}/s.csv",
       "--summary", f"{t}/s.json")  # fmt: skip
    prior = torch.load(f"{t}/p.pt", weights_only=True)
    assert (
        prior["config"]["length"] == 64
        and torch.load(f"{t}/v.pt", weights_only=True)["config"]["channels"] == 3
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["mixtures"] == 3 and summary["split"] == "valid"
    assert summary["fid"] > 0 and summary["average_fid"] > 0 and summary["fid"] != summary["average_fid"]
    assert json.loads((tmp_path / "l.json").read_text())["dataset"] == "celeba"
