"""LASS on music (thesis 5.4.2): the audio VQ-VAE, the chunks, the blind baselines on cases with
known answers, and every `harness lass` audio step end to end on a tiny rendered synthpop set,
with the supervised baselines from `harness msdm train-supervised` on the two stems."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run
from harness.audio import blind
from harness.lass.audio import chunk_length, score_rows
from harness.lass.models import AudioVQVAE, AudioVQVAEConfig
from harness.metrics.sdr import sdr

RATE = 8000
RUN = ["--seed", "3", "--threads", "1", "--device", "cpu"]
VQVAE = {"codes": 16, "dim": 16, "strides": [4, 2], "beta": 0.25, "decay": 0.99, "dead_code": 2, "crop": 512,
         "steps": 6, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 3}  # fmt: skip
PRIOR = {
    "n_layer": 1,
    "n_embd": 16,
    "n_head": 2,
    "steps": 4,
    "batch_size": 4,
    "lr": 1e-3,
    "lr_schedule": "constant",
    "warmup": 0,
    "checkpoint_every": 2,
}
SUPERVISED = {"sample_rate": RATE, "crop": 512, "lr": 1e-3, "batch_size": 2, "steps": 2, "checkpoint_every": 2,
              "log_every": 2, "stems": ["drums", "bass"], "hdemucs": {"channels": 4, "depth": 2, "nfft": 16},
              "convtasnet": {"enc_kernel_size": 8, "enc_num_feats": 8, "msk_kernel_size": 3, "msk_num_feats": 8,
                             "msk_num_hidden_feats": 8, "msk_num_layers": 1, "msk_num_stacks": 1}}  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from harness.audio import synthpop
    from harness.audio.embedded import write_dataset

    root = tmp_path_factory.mktemp("lass_audio")
    songs = synthpop.make_songs(5, {"train": 2, "valid": 1, "test": 1}, 2)
    write_dataset(root / "synthpop", "synthpop", synthpop.STEMS, songs, RATE)
    return root


def test_audio_vqvae_codes_one_per_hop_and_decodes_them():
    torch.manual_seed(0)
    model = AudioVQVAE(AudioVQVAEConfig(16, 16, (4, 2), 0.25, 0.99, 2)).eval()
    assert model.config.hop == 8
    x = torch.randn(3, 1, 256) * 0.1
    codes = model.encode(x)
    assert codes.shape == (3, 32) and codes.dtype == torch.int64
    with torch.no_grad():
        quantized = model.quantizer(model.encoder(x))[0]
        assert torch.allclose(model.codes_to_latents(codes), quantized, atol=1e-6)
        assert model.decode(codes).shape == x.shape
    with pytest.raises(ValueError):
        AudioVQVAE(AudioVQVAEConfig(16, 16, (3,), 0.25, 0.99, 2))


def test_chunks_round_up_to_whole_codes():
    assert chunk_length(3.0, 11025, 64) == 33088  # 517 codes >= 33,075 samples: three whole 1 s frames
    assert chunk_length(1.0, 8000, 8) == 8000


def test_robust_pca_recovers_low_rank_plus_sparse():
    rng = np.random.default_rng(0)
    low = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 50))
    sparse = np.where(rng.random((60, 50)) < 0.03, rng.choice([-10.0, 10.0], size=(60, 50)), 0.0)
    found_low, found_sparse = blind.robust_pca(low + sparse, iterations=500)
    assert np.linalg.norm(found_low - low) / np.linalg.norm(low) < 1e-2
    assert np.linalg.norm(found_sparse - sparse) / np.linalg.norm(sparse) < 1e-2


def _bass_and_drums(seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * RATE)) / RATE
    bass = 0.3 * np.sin(2 * np.pi * 110 * t)
    drums = np.zeros_like(t)
    rng = np.random.default_rng(1)
    for start in range(0, len(t), RATE // 4):  # a noise burst every 250 ms, decaying in 20 ms
        n = min(160, len(t) - start)
        drums[start : start + n] = rng.normal(size=n) * np.exp(-np.arange(n) / 30)
    return drums.astype(np.float32), bass.astype(np.float32)


@pytest.mark.parametrize("method", blind.METHODS)
def test_blind_methods_split_the_mixture_into_two_parts(method):
    drums, bass = _bass_and_drums()
    estimates = blind.separate(method, drums + bass, RATE, seed=0)
    assert estimates.shape == (2, len(drums)) and estimates.dtype == np.float32
    # soft masks that sum to one: the two parts add back up to the mixture
    assert np.abs(estimates.sum(0) - (drums + bass)).max() < 1e-3


def test_hpss_finds_the_drums_and_the_bass():
    drums, bass = _bass_and_drums()
    percussive, harmonic = blind.hpss(drums + bass)
    scores = sdr(np.stack([drums, bass])[:, None], np.stack([percussive, harmonic])[:, None], RATE)
    assert scores.min() > 5  # dB; the mixture itself scores about 0 and -0 dB
    with pytest.raises(Exception, match="unknown blind method"):
        blind.separate("nmf", drums, RATE)


def test_blind_rows_take_the_better_assignment():
    drums, bass = _bass_and_drums()
    chunks = np.stack([drums, bass])[None]
    noisy = chunks + np.random.default_rng(2).normal(scale=0.01, size=chunks.shape).astype(np.float32)
    straight = score_rows("x", chunks, noisy, RATE)[0]
    swapped = score_rows("x", chunks, noisy[:, ::-1], RATE, permute=True)[0]
    assert swapped["sdr_1"] == straight["sdr_1"] and swapped["sdr_2"] == straight["sdr_2"] > 20
    assert score_rows("x", chunks, noisy[:, ::-1], RATE)[0]["sdr_1"] < 0


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_audio_steps_end_to_end(data, tmp_path):
    from harness.lass.report import audio_rows

    dataset = str(data / "synthpop")
    chunks = tmp_path / "chunks.npz"
    run(["harness", "lass", "audio-chunks", "--dataset", dataset, "--stems", "drums", "bass", "--sample-rate",
         str(RATE), "--seconds", "0.5", "--multiple", "8", "--valid", "2", "--test", "2", "--seed", "3",
         "--out", str(chunks)])  # fmt: skip
    with np.load(chunks) as z:
        assert z["test"].shape == (2, 2, 4000) and list(z["stems"]) == ["drums", "bass"]
        assert all(np.abs(c).sum() > 0 for c in z["test"].reshape(4, -1))  # both stems sound
    common = ["--chunks", str(chunks), "--dataset", dataset, *RUN]

    def train(step, name, settings, *extra):
        out = tmp_path / f"{name}.pt"
        run(["harness", "lass", step, *common, "--settings", json.dumps(settings), *extra, "--out", str(out),
             "--history", str(tmp_path / f"{name}.csv"), "--meta", str(tmp_path / f"{name}.json"),
             "--checkpoint", str(tmp_path / f"{name}.ckpt")])  # fmt: skip
        return out

    vqvae = train("train-audio-vqvae", "vqvae", VQVAE)
    assert json.loads((tmp_path / "vqvae.json").read_text())["codes_used"] >= 1
    priors = [train("train-audio-prior", f"prior_{s}", PRIOR, "--vqvae", str(vqvae), "--stem", s, "--window-hop", "50")
              for s in ("drums", "bass")]  # fmt: skip
    counts = tmp_path / "counts.pt"
    run(["harness", "lass", "audio-likelihood", *common, "--vqvae", str(vqvae), "--settings",
         json.dumps({"pairs": 10, "crop": 512, "batch": 4}), "--name", "synthpop", "--out", str(counts),
         "--meta", str(tmp_path / "likelihood.json")])  # fmt: skip
    separate = ["harness", "lass", "separate-audio", "--chunks", str(chunks), "--vqvae", str(vqvae), "--priors",
                *map(str, priors), "--counts", str(counts), *RUN]  # fmt: skip
    beam = {"kind": "beam", "candidates": 2, "likelihood_scale": 3.0}
    run([*separate, "--split", "test", "--sampler", json.dumps(beam), "--csv", str(tmp_path / "test.csv"),
         "--summary", str(tmp_path / "test.json"), "--estimates", str(tmp_path / "est.npz")])  # fmt: skip
    top_k = {"kind": "top_k", "candidates": 3, "top_k": 4}
    run([*separate, "--split", "valid", "--sampler", json.dumps(top_k), "--csv", str(tmp_path / "topk.csv")])
    rows = _read(tmp_path / "test.csv")
    assert len(rows) == 2 and all(
        0 <= float(r["true_pair_counted"]) <= 1 and float(r["seconds"]) > 0 for r in rows
    )
    with np.load(tmp_path / "est.npz") as z:
        assert z["estimates"].shape == z["sources"].shape == (2, 2, 4000)
    summary = json.loads((tmp_path / "test.json").read_text())
    assert summary["positions"] == 2 * 500 and summary["stems"] == ["drums", "bass"]

    supervised = []
    for arch in ("hdemucs", "convtasnet"):
        out = tmp_path / f"{arch}.pt"
        run(["harness", "msdm", "train-supervised", "--arch", arch, "--data", dataset, "--settings",
             json.dumps(SUPERVISED), *RUN, "--checkpoint", str(tmp_path / f"{arch}.ckpt"), "--out", str(out),
             "--history", str(tmp_path / f"{arch}.csv"), "--meta", str(tmp_path / f"{arch}_meta.json")])  # fmt: skip
        assert json.loads((tmp_path / f"{arch}_meta.json").read_text())["stems"] == ["drums", "bass"]
        supervised += ["--supervised", f"{arch}={out}"]
    baselines = tmp_path / "baselines.csv"
    run(["harness", "lass", "audio-baselines", "--chunks", str(chunks), "--split", "test", "--blind", "hpss", "ft2d",
         *supervised, *RUN, "--csv", str(baselines)])  # fmt: skip
    methods = [r["method"] for r in _read(baselines)]
    assert methods == ["mixture"] * 2 + ["hpss"] * 2 + ["ft2d"] * 2 + ["hdemucs"] * 2 + ["convtasnet"] * 2

    tables = audio_rows(str(tmp_path / "likelihood.json"), str(tmp_path / "test.csv"), str(tmp_path / "test.json"),
                        str(baselines), {"top_k": str(tmp_path / "topk.csv")}, {"top_k": "Top-k"}, "beam",
                        "synthpop")  # fmt: skip
    cells = {(r, c): v for r, c, v in tables["5_5"]}
    assert {r for r, _ in cells} >= {"HPSS", "FT2D", "LASS (Ours)", "Demucs", "Conv-Tasnet"}
    lass = [float(np.nanmean([float(r[k]) for r in rows])) for k in ("sdr_1", "sdr_2")]
    assert float(cells["LASS (Ours)", "Drums"]) == pytest.approx(lass[0], abs=0.01)
    assert float(cells["LASS (Ours)", "Avg."]) == pytest.approx(sum(lass) / 2, abs=0.01)
    assert tables["5_1"][0] == ("Slakh (Drum + Bass)", "K", "16") and tables["5_3"][0][0] == "Top-k"

    # a separator of other stems is refused with one line, and nothing is written
    other = dict(SUPERVISED, stems=["bass", "drums"])
    run(["harness", "msdm", "train-supervised", "--arch", "convtasnet", "--data", dataset, "--settings",
         json.dumps(other), *RUN, "--checkpoint", str(tmp_path / "o.ckpt"), "--out", str(tmp_path / "o.pt"),
         "--history", str(tmp_path / "o.csv"), "--meta", str(tmp_path / "o.json")])  # fmt: skip
    bad = run(["harness", "lass", "audio-baselines", "--chunks", str(chunks), "--split", "test", "--supervised",
               f"x={tmp_path / 'o.pt'}", *RUN, "--csv", str(tmp_path / "bad.csv")], check=False)  # fmt: skip
    assert bad.returncode != 0 and "a separator of ['bass', 'drums']" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "bad.csv").exists()


@pytest.mark.slow
def test_thesis_profile_dag_runs_on_cpu_at_toy_size(http_root, tmp_path):
    """The thesis-scale LASS-on-music rules through the `gpu` profile and config/thesis.yaml, on CPU
    at toy size: Slakh-layout archives served on 127.0.0.1 (sha256-checked), the download, chunks
    at 22,050 Hz with the thesis's hop of 8 (0.5 s here: 1,379 codes; 3 s hold 8,269), the VQ-VAE,
    both priors, the likelihood at toy K, every sampler, the supervised models and the baselines."""
    import yaml

    from conftest import copy_workflow, slakh_archives, slakh_download

    root, base = http_root
    sha = slakh_archives(root, seconds=4.0)
    tiny = {
        "n_layer": 1,
        "n_embd": 8,
        "n_head": 2,
        "steps": 2,
        "batch_size": 2,
        "lr": 1e-3,
        "lr_schedule": "constant",
        "warmup": 0,
        "checkpoint_every": 2,
    }
    toy = {
        "device": "cpu",
        "downloads_dir": "data/downloads",
        "audio": {"datasets": {"slakh": slakh_download(base, sha)}},
        "lass": {"audio": {
            "seconds": 0.5, "valid_mixtures": 1, "test_mixtures": 1, "window_hop": 100000, "prior": tiny,
            "vqvae": dict(VQVAE, codes=16, strides=[2, 2, 2], crop=1024, steps=2, checkpoint_every=2),
            "likelihood": {"pairs": 4, "crop": 1024, "batch": 4},
            "samplers": {name: {"candidates": 2} for name in ("greedy", "beam", "ancestral", "top_k16", "top_k32",
                                                              "top_k64")},
            "supervised": dict(SUPERVISED, sample_rate=22050, crop=1024)}},
        "resources": {r: {"gpu": 0} for r in ("lass_train", "lass_separate", "msdm_train")},
    }  # fmt: skip
    wf = copy_workflow(tmp_path / "wf")
    (wf / "toy.yaml").write_text(yaml.safe_dump(toy))
    out = "results/thesis/lass/audio"
    targets = [f"{out}/test.csv", f"{out}/baselines.csv", f"{out}/likelihood.json"] + [
        f"{out}/samplers/{s}.csv" for s in ("greedy", "beam", "ancestral", "top_k16", "top_k32", "top_k64")
    ]
    run(["snakemake", *targets, "--profile", "gpu", "--cores", "2", "--configfiles", "config.yaml",
         "config/thesis.yaml", "toy.yaml"], cwd=wf, timeout=1500)  # fmt: skip
    summary = json.loads((wf / out / "test.json").read_text())
    assert summary["sample_rate"] == 22050 and summary["vqvae"]["hop"] == 8 and summary["positions"] == 1379
    assert summary["sampler"] == {"kind": "beam", "candidates": 2, "likelihood_scale": 3.0}
    methods = {r["method"] for r in _read(wf / out / "baselines.csv")}
    assert methods == {"mixture", "rpca", "ica", "hpss", "repet_sim", "ft2d", "hdemucs", "convtasnet"}
