"""COCOLA on tiny rendered chorales and synthpop sets: sub-mix pairs and windows, the encoder
and its similarities, eq. 7.3 and eq. 7.5 on cases with known answers, and every `harness
cocola` step a rule runs (split, train, evaluate, report) plus the COCOLA score on real stems."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run
from harness.cocola.data import WindowSampler, draw_pair, eval_pairs, load_tracks, pair_audio
from harness.cocola.evaluate import group_accuracy
from harness.cocola.model import (
    Cocola,
    Features,
    ModelSettings,
    batch_accuracy,
    contrastive_loss,
    efficientnet,
    load_model,
    save_model,
)
from harness.core.errors import HarnessError

RATE = 16000
FEATURES = {"sample_rate": RATE, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 64,
            "f_min": 60.0, "f_max": 7800.0}  # fmt: skip
MODEL = {"width": 0.25, "depth": 0.25, "dropout": 0.0, "stochastic_depth": 0.0, "embedding_dim": 64,
         "similarity": "bilinear", "temperature": 0.1}  # fmt: skip
TRAINING = {"window_seconds": 1.0, "batch_size": 8, "max_overlap": 0.5, "noise": 1e-3, "active_db": -45.0,
            "lr": 1e-3, "steps": 150, "checkpoint_every": 50, "log_every": 50, "valid_groups": 100}  # fmt: skip
EVALUATION = {"ks": [2, 4], "groups": 200, "valid_pairs": 8}
RUN = ["--seed", "1", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Tiny chorales and synthpop sets at 16 kHz, their split files and one trained model."""
    from harness.audio import chorales, synthpop
    from harness.audio.embedded import write_dataset

    root = tmp_path_factory.mktemp("cocola")
    write_dataset(root / "chorales", "chorales", chorales.STEMS,
                  chorales.make_songs(5, {"train": 3, "valid": 1, "test": 1}, 8.0), RATE)  # fmt: skip
    write_dataset(root / "synthpop", "synthpop", synthpop.STEMS,
                  synthpop.make_songs(5, {"train": 1, "valid": 1, "test": 1}, 2), RATE)  # fmt: skip
    for name in ("chorales", "synthpop"):
        run(["harness", "cocola", "split", "--data", str(root / name), "--features", json.dumps(FEATURES),
             "--training", json.dumps(TRAINING), "--evaluation", json.dumps(EVALUATION), "--seed", "1",
             "--out", str(root / f"{name}.json")])  # fmt: skip
    run(["harness", "cocola", "train", "--name", "chorales", "--data", str(root / "chorales"), "--split",
         str(root / "chorales.json"), "--features", json.dumps(FEATURES), "--model", json.dumps(MODEL),
         "--settings", json.dumps(TRAINING), *RUN, "--out", str(root / "model.pt"), "--history",
         str(root / "history.csv"), "--meta", str(root / "meta.json"), "--checkpoint", str(root / "m.ckpt")])  # fmt: skip
    return root


# ----------------------------------------------------------------------------- pairs and windows
def test_sub_mix_pairs_are_disjoint_non_empty_subsets_of_the_active_stems():
    rng = np.random.default_rng(0)
    sizes = set()
    for _ in range(500):
        x1, x2 = draw_pair([0, 2, 3, 5], rng)
        assert x1 and x2 and not set(x1) & set(x2) and set(x1) | set(x2) <= {0, 2, 3, 5}
        sizes.add((len(x1), len(x2)))
    # |X1| in 1..n-1, |X2| in 1..n-|X1|: every split of four stems occurs
    assert sizes == {(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (3, 1)}
    with pytest.raises(ValueError):
        draw_pair([1], rng)


def _track_set(tmp: Path, rate: int, seconds: float = 6.0) -> Path:
    """Three stems: a tone, a tone silent in the second half, and a click at 1.25 s."""
    from harness.audio.dataset import write_manifest
    from harness.io.wav import write_wav

    n = int(seconds * rate)
    t = np.arange(n) / rate
    stems = {"a": 0.3 * np.sin(2 * np.pi * 220 * t), "b": 0.3 * np.sin(2 * np.pi * 330 * t) * (t < seconds / 2),
             "click": np.zeros(n)}  # fmt: skip
    stems["click"][int(1.25 * rate)] = 0.3  # -52 dBFS over a 1 s window: never "active"
    for s, x in stems.items():
        write_wav(tmp / f"T1/{s}.wav", x[None].astype(np.float32), rate)
    write_manifest(tmp, "toy", rate, list(stems),
                   [{"id": "T1", "split": "test", "stems": {s: f"T1/{s}.wav" for s in stems}}])  # fmt: skip
    return tmp


def test_offsets_are_counted_at_the_model_rate_whatever_the_files_rate(tmp_path):
    """The original code shifted windows by half a window counted at 16 kHz on 44.1 kHz files;
    here a window's start is a sample of the resampled audio, so the click at 1.25 s of a 44.1
    kHz file sits 0.25 s into the window that starts at 1 s."""
    root = _track_set(tmp_path, 44100)
    (track,) = load_tracks(str(root), ["T1"], RATE)
    assert track.samples == 6 * RATE and track.stems == ["a", "b", "click"]
    pairs = eval_pairs([track], RATE, RATE // 2, -45.0, np.random.default_rng(0))
    assert [p["start"] for p in pairs] == [i * RATE // 2 for i in range(len(pairs))]
    # b stops at 3 s: later windows have one active stem (the click is too short to count)
    assert [p["start"] for p in pairs][-1] == 5 * RATE // 2
    click = track.audio[2]
    assert abs(int(np.argmax(np.abs(click))) - int(1.25 * RATE)) <= 2
    window = np.asarray(track.audio[:, RATE : 2 * RATE])
    assert abs(int(np.argmax(np.abs(window[2]))) - RATE // 4) <= 2
    pair = {"track": "T1", "start": RATE, "anchor": ["a"], "positive": ["b", "click"]}
    m1, m2 = pair_audio({"T1": track}, pair, RATE)
    assert np.allclose(m1, window[0]) and np.allclose(m2, window[1] + window[2])


def test_training_windows_of_one_track_overlap_at_most_r(tmp_path):
    root = _track_set(tmp_path, RATE, seconds=20.0)
    (track,) = load_tracks(str(root), ["T1"], RATE)
    window, r = RATE, 0.5
    sampler = WindowSampler([track], window, r, -45.0, noise=0.01)
    rng = np.random.default_rng(1)
    anchors, positives = sampler.batch(6, rng)
    starts = sorted(start for _, start, _, _ in sampler.drawn)
    assert all(b - a >= (1 - r) * window for a, b in zip(starts, starts[1:]))
    assert all(s < 10 * RATE for s in starts)  # two active stems: windows reaching into the first half
    for (_, start, x1, x2), a, p in zip(sampler.drawn, anchors, positives):
        clip = track.audio[:, start : start + window]
        assert np.allclose(a, clip[x1].sum(0))
        noise = p - clip[x2].sum(0)  # the positive's augmentation: Gaussian noise of std 0.01
        assert 0.008 < noise.std() < 0.012 and abs(noise.mean()) < 0.002
    # starts in [0, 10 s) at least 0.5 s apart: at most 20 windows; drawn one at a time among
    # the starts still free, half of them always fit
    assert len(sampler.batch(10, rng)[0]) == 10
    with pytest.raises(HarnessError, match="cannot find 21 windows overlapping at most 50%"):
        sampler.batch(21, rng)


# ----------------------------------------------------------------------------- model and losses
def test_the_encoder_is_efficientnet_b0_at_width_and_depth_one():
    from torchvision.models import efficientnet_b0

    net, channels = efficientnet(ModelSettings())
    reference = efficientnet_b0()
    assert channels == 1280  # the projection is 1280 -> 512, as in the thesis
    ours = sum(p.numel() for p in net.features.parameters())
    theirs = sum(p.numel() for p in reference.features.parameters())
    assert theirs - ours == 2 * 32 * 3 * 3  # only the stem conv differs: 1 input channel, not 3


def test_similarities_loss_and_accuracy_match_their_equations():
    torch.manual_seed(0)
    model = Cocola(Features(), ModelSettings(**MODEL))
    h1, h2 = torch.randn(5, 64), torch.randn(5, 64)
    assert torch.allclose(model.similarity(h1, h2), h1 @ model.w @ h2.T)  # eq. 7.2
    sim = model.similarity(h1, h2)
    manual = -torch.stack([torch.log_softmax(sim[k], 0)[k] for k in range(5)]).mean()
    assert torch.allclose(contrastive_loss(sim), manual)  # eq. 7.3 (averaged over k)
    cosine = Cocola(Features(), ModelSettings(**dict(MODEL, similarity="cosine", temperature=0.5)))
    c = cosine.similarity(h1, h2)
    assert torch.allclose(c[1, 2], torch.nn.functional.cosine_similarity(h1[1], h2[2], dim=0) / 0.5)
    for m in (model, cosine):  # the score's pairwise form is the matrix's diagonal
        assert torch.allclose(m.paired_similarity(h1, h2), torch.diagonal(m.similarity(h1, h2)), atol=1e-5)
    assert batch_accuracy(torch.tensor([[3.0, 1.0], [2.0, 1.0]])) == 0.5  # eq. 7.5
    emb = model.embed(torch.randn(3, RATE))
    assert emb.shape == (3, 64) and emb.abs().max() <= 1  # LayerNorm, then tanh


def test_group_accuracy_on_known_similarity_matrices():
    rng = np.random.default_rng(0)
    assert group_accuracy(np.eye(20) + 0.01 * rng.random((20, 20)), 4, 200, rng)[0] == 1.0
    assert group_accuracy(-np.eye(20), 2, 200, rng)[0] == 0.0
    # ties: argmax with random tie-breaking, so a constant encoder scores chance exactly
    assert group_accuracy(np.zeros((20, 20)), 4, 50, rng)[0] == 0.25
    tie = np.array([[1.0, 1.0], [0.0, 1.0]])  # row 0: its own column ties another (1/2); row 1 hits
    assert group_accuracy(tie, 2, 5, rng)[0] == 0.75
    # no signal: random similarities (one fixed matrix leans by about 1 / sqrt(n); average 20)
    chance = np.mean([group_accuracy(rng.normal(size=(200, 200)), 4, 500, rng)[0] for _ in range(20)])
    assert abs(chance - 0.25) < 0.03


def test_model_files_round_trip_and_foreign_files_stop(tmp_path):
    model = Cocola(Features(**FEATURES), ModelSettings(**MODEL)).eval()
    save_model(str(tmp_path / "m.pt"), model, {"window": RATE})
    back = load_model(str(tmp_path / "m.pt"))
    x = torch.randn(2, RATE)
    assert back.window == RATE and torch.equal(back.embed(x), model.embed(x))
    torch.save({"kind": "msdm_diffusion"}, tmp_path / "other.pt")
    with pytest.raises(HarnessError, match="is not a COCOLA model file"):
        load_model(str(tmp_path / "other.pt"))


# ----------------------------------------------------------------------------- the steps
def test_split_file_lists_tracks_and_pairs_and_is_seeded(data, tmp_path):
    split = json.loads((data / "chorales.json").read_text())
    assert split["dataset"] == "chorales" and split["window"] == RATE and split["sample_rate"] == RATE
    assert len(split["tracks"]["train"]) == 3 and len(split["tracks"]["test"]) == 1
    assert len(split["pairs"]["valid"]) <= EVALUATION["valid_pairs"] and split["pairs"]["test"]
    for pair in split["pairs"]["test"]:
        assert pair["anchor"] and pair["positive"] and not set(pair["anchor"]) & set(pair["positive"])
    run(["harness", "cocola", "split", "--data", str(data / "chorales"), "--features", json.dumps(FEATURES),
         "--training", json.dumps(TRAINING), "--evaluation", json.dumps(EVALUATION), "--seed", "1",
         "--out", str(tmp_path / "again.json")])  # fmt: skip
    assert (tmp_path / "again.json").read_text() == (data / "chorales.json").read_text()


def test_training_logs_the_accuracy_and_learns(data):
    rows = list(csv.DictReader(open(data / "history.csv")))
    assert [int(r["step"]) for r in rows] == [50, 100, 150]
    assert all(0 <= float(r["valid_accuracy"]) <= 1 for r in rows)
    meta = json.loads((data / "meta.json").read_text())
    assert meta["train_tracks"] == 3 and meta["similarity"] == "bilinear"
    assert float(rows[-1]["train_loss"]) < np.log(TRAINING["batch_size"])  # below chance's loss
    assert not (data / "m.ckpt").exists()


def test_evaluate_and_report_write_table_7_1(data, tmp_path):
    common = ["--data", str(data / "chorales"), str(data / "synthpop"), "--split", str(data / "chorales.json"),
              str(data / "synthpop.json"), "--evaluation", json.dumps(EVALUATION), *RUN]  # fmt: skip
    run(["harness", "cocola", "evaluate", "--checkpoint", str(data / "model.pt"), *common,
         "--csv", str(tmp_path / "chorales.csv")])  # fmt: skip
    run(["harness", "cocola", "evaluate", "--baseline", "untrained", "--features", json.dumps(FEATURES),
         "--model", json.dumps(MODEL), *common, "--csv", str(tmp_path / "untrained.csv")])  # fmt: skip
    run(
        [
            "harness",
            "cocola",
            "evaluate",
            "--baseline",
            "chroma",
            *common,
            "--csv",
            str(tmp_path / "chroma.csv"),
        ]
    )
    rows = list(csv.DictReader(open(tmp_path / "chorales.csv")))
    assert {(r["test_set"], r["k"]) for r in rows} == {
        (t, k) for t in ("chorales", "synthpop") for k in ("2", "4")
    }
    assert all(float(r["chance"]) == 100 / int(r["k"]) for r in rows)
    run(["harness", "cocola", "report", "--accuracy", f"chorales={tmp_path / 'chorales.csv'}",
         "--accuracy", f"untrained={tmp_path / 'untrained.csv'}", "--accuracy", f"chroma={tmp_path / 'chroma.csv'}",
         "--history", f"bilinear={data / 'history.csv'}",
         "--names", json.dumps({"chorales": "CocoChorales", "synthpop": "Slakh2100"}), "--held-out", "[]",
         "--out-dir", str(tmp_path / "report"), "--figure", str(tmp_path / "fig.png")])  # fmt: skip
    table = {
        (r["row"], r["column"]): r["ours"] for r in csv.DictReader(open(tmp_path / "report/table_7_1.csv"))
    }
    assert table[("CocoChorales", "CocoChorales")].endswith("%")
    assert table[("Chance (1 / K)", "Slakh2100")] == "50.00%"
    assert table[("MoisesDB", "MUSDB18-HQ")].startswith("not run")
    assert "Untrained encoder (seeded init)" in {r for r, _ in table}
    assert (tmp_path / "fig.png").stat().st_size > 0
    run(["harness", "tables", "build", "--id", "table_7_1", "--scale", "embedded", "--ours",
         str(tmp_path / "report/table_7_1.csv"), "--out-dir", str(tmp_path / "tables"), "--figures-dir",
         str(tmp_path)])  # fmt: skip
    md = (tmp_path / "tables/table_7_1.md").read_text()
    assert "Note: our datasets stand in for the thesis's: CocoChorales = chorales, Slakh2100 = synthpop" in md


def _pairs(data: Path, tmp: Path) -> dict[str, Path]:
    """Real stems of the training chorales: soprano + alto as the conditioning, tenor + bass of
    the same song (coherent) or of the next song (shuffled) as the accompaniment."""
    from harness.audio.dataset import StemDataset
    from harness.io.wav import write_wav

    ds = StemDataset(data / "chorales", RATE)
    ids = ds.tracks("train")
    dirs = {k: tmp / k for k in ("y", "coherent", "shuffled")}
    for i, t in enumerate(ids):
        a, b = ds.load(t), ds.load(ids[(i + 1) % len(ids)])
        write_wav(dirs["y"] / f"{t}.wav", (a["soprano"] + a["alto"])[:, : 4 * RATE], RATE)
        write_wav(dirs["coherent"] / f"{t}.wav", (a["tenor"] + a["bass"])[:, : 4 * RATE], RATE)
        write_wav(dirs["shuffled"] / f"{t}.wav", (b["tenor"] + b["bass"])[:, : 4 * RATE], RATE)
    return dirs


def test_trained_model_scores_coherent_pairs_above_shuffled_ones(data, tmp_path):
    dirs = _pairs(data, tmp_path)
    scores = {}
    for kind in ("coherent", "shuffled"):
        run(["harness", "cocola", "score", "--checkpoint", str(data / "model.pt"), "--conditioning", str(dirs["y"]),
             "--accompaniment", str(dirs[kind]), "--csv", str(tmp_path / f"{kind}.csv"),
             "--summary", str(tmp_path / f"{kind}.json")])  # fmt: skip
        rows = list(csv.DictReader(open(tmp_path / f"{kind}.csv")))
        assert [int(r["windows"]) for r in rows] == [4, 4, 4]  # 4 s in 1 s windows
        scores[kind] = [float(r["score"]) for r in rows]
        summary = json.loads((tmp_path / f"{kind}.json").read_text())
        assert summary["pairs"] == 3 and abs(summary["mean"] - np.mean(scores[kind])) < 1e-3
    assert np.mean(scores["coherent"]) > np.mean(scores["shuffled"]) + 0.5
    assert sum(c > s for c, s in zip(scores["coherent"], scores["shuffled"])) >= 2
    # a model that answers silence (refused by default: test_bad_score_inputs_stop_with_one_line);
    # with --silent-answers skip it is counted, and the other pairs keep their scores
    import shutil

    from harness.io.wav import read_wav, write_wav

    quiet = tmp_path / "quiet"
    shutil.copytree(dirs["coherent"], quiet)
    first = sorted(quiet.glob("*.wav"))[0]
    audio, rate = read_wav(first)
    write_wav(first, np.zeros_like(audio), rate)
    base = ["harness", "cocola", "score", "--checkpoint", str(data / "model.pt"), "--conditioning", str(dirs["y"]),
            "--accompaniment", str(quiet), "--summary", str(tmp_path / "quiet.json")]  # fmt: skip
    run(base + ["--csv", str(tmp_path / "quiet.csv"), "--silent-answers", "skip"])
    rows = list(csv.DictReader(open(tmp_path / "quiet.csv")))
    assert [r["silent"] for r in rows] == ["True", "False", "False"] and rows[0]["score"] == ""
    assert [float(r["score"]) for r in rows[1:]] == pytest.approx(scores["coherent"][1:], abs=1e-4)
    summary = json.loads((tmp_path / "quiet.json").read_text())
    assert summary["pairs"] == 2 and summary["silent"] == 1
    assert abs(summary["mean"] - np.mean(scores["coherent"][1:])) < 1e-3


def test_batched_scores_equal_pair_by_pair_scores(data):
    from harness.cocola.score import score_pairs

    model = load_model(str(data / "model.pt"))
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(n, RATE)).astype(np.float32) * 0.1, rng.normal(size=(n, RATE)).astype(np.float32) * 0.1)
             for n in (1, 3, 2)]  # fmt: skip
    together = score_pairs(model, pairs, "cpu", batch=4)
    alone = [score_pairs(model, [p], "cpu", batch=1)[0] for p in pairs]
    assert np.allclose(together, alone, atol=1e-4)


@pytest.mark.parametrize(
    "case, message",
    [
        ("rate", "the model takes 16000 Hz (--resample converts it)"),
        ("short", "shorter than the model's 1.00 s window"),
        ("silent", "silent (RMS below -80 dBFS)"),
        ("missing", "lacks"),
        ("length", "differ in length"),
    ],
)
def test_bad_score_inputs_stop_with_one_line(data, tmp_path, case, message):
    from harness.io.wav import write_wav

    tone = 0.2 * np.sin(np.arange(2 * RATE) / 10.0)[None].astype(np.float32)
    y, x = tmp_path / "y", tmp_path / "x"
    write_wav(y / "a.wav", tone, RATE)
    write_wav(x / "a.wav", tone, RATE)
    if case == "rate":
        write_wav(x / "a.wav", tone, 22050)
        write_wav(y / "a.wav", tone, 22050)
    elif case == "short":
        write_wav(x / "a.wav", tone[:, : RATE // 2], RATE)
        write_wav(y / "a.wav", tone[:, : RATE // 2], RATE)
    elif case == "silent":
        write_wav(x / "a.wav", np.zeros_like(tone), RATE)
    elif case == "missing":
        write_wav(x / "b.wav", tone, RATE)
    elif case == "length":
        write_wav(x / "a.wav", tone[:, :-100], RATE)
    proc = run(["harness", "cocola", "score", "--checkpoint", str(data / "model.pt"), "--conditioning", str(y),
                "--accompaniment", str(x), "--csv", str(tmp_path / "s.csv")], check=False)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and message in lines[-1] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "s.csv").exists()
    if case == "rate":  # --resample converts it instead
        run(["harness", "cocola", "score", "--checkpoint", str(data / "model.pt"), "--conditioning", str(y),
             "--accompaniment", str(x), "--resample", "--csv", str(tmp_path / "s.csv")])  # fmt: skip
        assert (tmp_path / "s.csv").exists()


def test_report_refuses_a_malformed_accuracy_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("model,test_set,k,accuracy,sem,chance,pairs\ntrained,chorales,2,high,1.0,50.0,10\n")
    proc = run(["harness", "cocola", "report", "--accuracy", f"chorales={bad}", "--names", "{}", "--held-out",
                "[]", "--out-dir", str(tmp_path / "out"), "--figure", str(tmp_path / "f.png")], check=False)  # fmt: skip
    assert (
        proc.returncode == 2 and "accuracy is not a number ('high')" in proc.stderr.strip().splitlines()[-1]
    )
    assert not (tmp_path / "out" / "table_7_1.csv").exists()


def test_split_file_of_another_dataset_is_refused(data, tmp_path):
    proc = run(["harness", "cocola", "evaluate", "--baseline", "chroma", "--data", str(data / "chorales"),
                "--split", str(data / "synthpop.json"), "--evaluation", json.dumps(EVALUATION), *RUN,
                "--csv", str(tmp_path / "a.csv")], check=False)  # fmt: skip
    assert proc.returncode == 2 and "is the split of 'synthpop'" in proc.stderr.strip().splitlines()[-1]


def _wav(seconds: float, rate: int, seed: int) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.random.default_rng(seed).normal(size=int(seconds * rate)) * 0.1, rate, format="WAV",
             subtype="PCM_16")  # fmt: skip
    return buf.getvalue()


def _archive(path: Path, files: dict[str, bytes]) -> str:
    import hashlib
    import io
    import tarfile
    import zipfile

    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, blob in files.items():
                zf.writestr(name, blob)
    else:
        with tarfile.open(path, "w:bz2" if path.suffix == ".bz2" else "w:gz") as tf:
            for name, blob in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tf.addfile(info, io.BytesIO(blob))
    return hashlib.sha256(path.read_bytes()).hexdigest()


TOY = {
    "model": dict(MODEL, embedding_dim=16),
    "training": dict(TRAINING, steps=4, batch_size=2, checkpoint_every=2, log_every=2, valid_groups=10),
    "evaluation": {"ks": [2], "groups": 20, "valid_pairs": 4},
}


@pytest.mark.slow
def test_thesis_profile_dag_runs_on_cpu_at_toy_size(http_root, tmp_path):
    """The thesis-scale COCOLA DAG through the `gpu` profile and config/thesis.yaml, on CPU at toy
    size: Slakh, CocoChorales (two ensembles, All on the random one) and MUSDB18-HQ archives
    served on 127.0.0.1 and checked by sha256, MoisesDB from a local copy, the disk cache of
    resampled tracks, every COCOLA rule and Table 7.1 with Figure 7.3."""
    import yaml

    from conftest import copy_workflow
    from harness.audio.download import _hash_split

    root, base = http_root
    sha = {}
    slakh = {f"{stem}_22050/{split}/Track0000{k}.wav": _wav(3.0, 22050, k + i)
             for i, stem in enumerate(("bass", "drums", "guitar", "piano"))
             for split, k in (("train", 1), ("train", 2), ("validation", 3), ("test", 4))}  # fmt: skip
    sha["slakh"] = {"all/stems": _archive(root / "stems.tar.gz", slakh)}
    for split in ("train", "valid", "test"):
        files = {f"{ens}_track00{k}/stems_audio/{p}_{inst}.wav": _wav(3.0, 16000, k + p)
                 for ens in ("random", "string") for k in (1, 2)
                 for p, inst in ((1, "violin"), (2, "violin"), (3, "viola"), (4, "cello"))}  # fmt: skip
        sha.setdefault("cocochorales", {})[f"{split}/1"] = _archive(root / f"coco-{split}-1.tar.bz2", files)
    musdb = {f"{split}/{name}/{stem}.wav": _wav(3.0, 44100, i)
             for split, name in (("train", "A - One"), ("test", "C - Three"), ("test", "D - Four"))
             for i, stem in enumerate(("bass", "drums", "other", "vocals"))}  # fmt: skip
    sha["musdb18hq"] = {"all/musdb18hq": _archive(root / "musdb18hq.zip", musdb)}
    fractions = {"valid": 0.3, "test": 0.3}
    names, k = {}, 0
    while set(names.values()) != {"train", "valid", "test"}:  # a local MoisesDB with every split
        names[f"uuid-{k}"] = _hash_split(f"uuid-{k}", fractions)
        k += 1
    for track in names:
        for stem in ("vocals", "bass", "drums"):
            (tmp_path / "moisesdb" / track / stem).mkdir(parents=True)
            (tmp_path / "moisesdb" / track / stem / "take.wav").write_bytes(_wav(3.0, 44100, k))
    toy = {
        "device": "cpu",
        "downloads_dir": "data/downloads",
        "audio": {"datasets": {
            "slakh": {"url": base + "/{shard}.tar.gz", "sha256": sha["slakh"], "shards": {"all": ["stems"]}},
            "cocochorales": {"url": base + "/coco-{split}-{shard}.tar.bz2", "sha256": sha["cocochorales"],
                             "shards": {"train": [1], "valid": [1], "test": [1]}},
            "musdb18hq": {"url": base + "/musdb18hq.zip", "sha256": sha["musdb18hq"], "valid_tracks": []},
            "moisesdb": {"local_path": str(tmp_path / "moisesdb"), "split_fractions": fractions}}},
        "cocola": TOY,
        "resources": {r: {"gpu": 0} for r in ("cocola_train", "cocola_evaluate")},
    }  # fmt: skip
    wf = copy_workflow(tmp_path / "wf")
    (wf / "toy.yaml").write_text(yaml.safe_dump(toy))
    targets = ["results/thesis/tables/table_7_1.csv", "results/thesis/figures/figure_7_3.png"]
    run(["snakemake", *targets, "--profile", "gpu", "--cores", "2", "--configfiles", "config.yaml",
         "config/thesis.yaml", "toy.yaml"], cwd=wf, timeout=1500)  # fmt: skip
    table = {
        (r["row"], r["column"]): r for r in csv.DictReader(open(wf / "results/thesis/tables/table_7_1.csv"))
    }
    assert {r["scale"] for r in table.values()} == {"thesis"}
    for row in ("MoisesDB", "Slakh2100", "CocoChorales", "All"):
        for column in ("MUSDB18-HQ", "MoisesDB", "Slakh2100", "CocoChorales"):
            assert table[(row, column)]["ours"].endswith("%"), (row, column)
    meta = {
        m: json.loads((wf / f"results/thesis/cocola/train/{m}.json").read_text())
        for m in ("all", "cocochorales")
    }
    # All trains on the random ensemble of CocoChorales only; the CocoChorales model on both
    assert meta["cocochorales"]["train_tracks"] == 4  # random_track001-2 and string_track001-2
    moises_train = sum(s == "train" for s in names.values())
    assert meta["all"]["train_tracks"] == 2 + 2 + moises_train  # Slakh, random CocoChorales, MoisesDB
    assert len(list((wf / "data/thesis/cocola/cache").rglob("*.npy"))) > 0
    assert (
        json.loads((wf / "results/thesis/cocola/train/all_cosine.json").read_text())["similarity"] == "cosine"
    )


def test_a_split_of_other_windows_or_a_bad_filter_is_refused(data, tmp_path):
    other = dict(TRAINING, window_seconds=0.5)
    run(["harness", "cocola", "split", "--data", str(data / "chorales"), "--features", json.dumps(FEATURES),
         "--training", json.dumps(other), "--evaluation", json.dumps(EVALUATION), "--seed", "1",
         "--out", str(tmp_path / "short.json")])  # fmt: skip
    proc = run(["harness", "cocola", "evaluate", "--checkpoint", str(data / "model.pt"), "--data",
                str(data / "chorales"), "--split", str(tmp_path / "short.json"), "--evaluation",
                json.dumps(EVALUATION), *RUN, "--csv", str(tmp_path / "a.csv")], check=False)  # fmt: skip
    assert proc.returncode == 2 and "8000-sample windows, the model was trained on 16000" in proc.stderr
    proc = run(["harness", "cocola", "train", "--name", "x", "--data", str(data / "chorales"), "--split",
                str(data / "chorales.json"), "--features", json.dumps(FEATURES), "--model", json.dumps(MODEL),
                "--settings", json.dumps(TRAINING), "--filters", '{"chorales": "("}', *RUN,
                "--out", str(tmp_path / "m.pt"), "--history", str(tmp_path / "h.csv"), "--meta",
                str(tmp_path / "m.json"), "--checkpoint", str(tmp_path / "m.ckpt")], check=False)  # fmt: skip
    assert proc.returncode == 2 and "is not a regular expression" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "m.pt").exists()
