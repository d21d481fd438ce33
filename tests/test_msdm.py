"""MSDM / ISDM on a tiny rendered synthpop set: data, model files, data-parallel training,
separation (scored with the MSDM protocol), generation (sub-FAD), the baselines and the report,
each through the `harness msdm` command a rule runs."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run
from harness.audio.arrays import active_chunks, random_crops, subsets, unwindow, windows

RATE = 8000
UNET = {"channels": [8, 8], "factors": [4, 4], "items": [1, 1], "attentions": [0, 0], "attention_heads": 2,
        "attention_features": 8, "modulation_features": 16}  # fmt: skip
TRAIN = {"sample_rate": RATE, "crop": 512, "sigma_data": 0.1, "p_mean": -1.0, "p_std": 1.0, "ema": 0.9,
         "lr": 1e-3, "batch_size": 4, "steps": 6, "checkpoint_every": 3, "log_every": 3, "unet": UNET}  # fmt: skip
RUN = ["--seed", "3", "--threads", "1", "--device", "cpu"]
EVAL = json.dumps({"tracks": 2, "seconds": 3.0, "window_seconds": 1.0, "batch": 4, "chunk_seconds": 1.0,
                   "hop_seconds": 0.5})  # fmt: skip
SCHEDULE = json.dumps({"steps": 4, "sigma_min": 1e-3, "sigma_max": 1.0, "rho": 7.0})
GENERATION = json.dumps({"samples": 4, "seconds": 1.0, "schedule": json.loads(SCHEDULE), "churn": 20,
                         "corrections": 1, "examples": 2})  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from harness.audio import synthpop
    from harness.audio.embedded import write_dataset

    root = tmp_path_factory.mktemp("msdm")
    songs = synthpop.make_songs(7, {"train": 2, "valid": 1, "test": 2}, 2)
    write_dataset(root / "synthpop", "synthpop", synthpop.STEMS, songs, RATE)
    return root


def _train(root: Path, name: str, *extra: str, settings=None) -> Path:
    out = root / f"{name}.pt"
    if not out.exists():
        run(["harness", "msdm", "train", "--data", str(root / "synthpop"), "--settings",
             json.dumps(settings or TRAIN), *RUN, "--checkpoint", str(root / f"{name}.ckpt"), "--out", str(out),
             "--history", str(root / f"{name}.csv"), "--meta", str(root / f"{name}.json"), *extra])  # fmt: skip
    return out


def test_subsets_are_the_14_rows_of_table_6_3():
    rows = subsets(["bass", "drums", "guitar", "piano"])
    assert len(rows) == 14 == len(set(rows))
    assert rows[0] == ("bass",) and rows[4] == ("bass", "drums") and rows[-1] == ("drums", "guitar", "piano")


def test_crops_segments_and_active_chunks():
    rng = np.random.default_rng(0)
    tracks = [np.arange(40, dtype=np.float32).reshape(2, 20), np.ones((2, 30), np.float32)]
    crops = random_crops(tracks, 5, 8, rng)
    assert crops.shape == (5, 2, 8)
    for c in crops:  # each crop is a contiguous window of one track
        assert np.all(c == 1) or np.all(np.diff(c[0]) == 1)
    parts, where = windows(tracks, 8)  # 20 samples: 3 windows, 30: 4 windows
    assert parts.shape == (7, 2, 8) and where[:4] == [(0, 0), (0, 8), (0, 16), (1, 0)]
    back = unwindow(parts, where, [20, 30])
    assert all(np.array_equal(a, b) for a, b in zip(back, tracks))
    quiet = np.zeros((2, 30), np.float32)
    quiet[0] = 1.0  # one active stem only
    chunks = active_chunks([quiet, np.ones((2, 30), np.float32)], 10, 3, rng)
    assert chunks.shape == (3, 2, 10) and np.all(chunks[:, 1].std(-1) == 0) and np.all(chunks[:, 1] == 1)


def test_data_parallel_training_equals_one_process(data):
    """2 gloo processes with batch 2 each train the same weights as one process with batch 4: the
    same global batch, gradients averaged. The model loads and its loss is finite."""
    one = _train(data, "one", "--kind", "msdm")
    two = _train(data, "two", "--kind", "msdm", "--processes", "2", settings=dict(TRAIN, batch_size=2))
    a = torch.load(one, weights_only=True)["state_dict"]
    b = torch.load(two, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-3
    meta = json.loads((data / "two.json").read_text())
    assert meta["processes"] == 2 and np.isfinite(meta["final_loss"])
    from harness.diffusion.models import load_model

    denoiser, config = load_model(str(two))
    assert config["stems"] == ["bass", "drums", "guitar", "piano"] and config["sample_rate"] == RATE
    out = denoiser(torch.zeros(1, 4, 512), torch.tensor(0.5))
    assert out.shape == (1, 4, 512) and torch.isfinite(out).all()


def _separate(root: Path, name: str, *method: str, variant=None) -> dict:
    cmd = ["harness", "msdm", "separate", "--data", str(root / "synthpop"), *method, "--eval", EVAL, *RUN,
           "--csv", str(root / f"{name}.csv"), "--summary", str(root / f"{name}.json")]  # fmt: skip
    if variant:
        cmd += [
            "--schedule",
            SCHEDULE,
            "--variant",
            json.dumps(variant),
            "--examples",
            str(root / f"ex_{name}"),
        ]
    run(cmd)
    return json.loads((root / f"{name}.json").read_text())


def test_separation_with_each_likelihood_msdm_and_isdm(data):
    msdm = _train(data, "one", "--kind", "msdm")
    isdm = [
        str(_train(data, f"isdm_{s}", "--kind", "isdm", "--stem", s))
        for s in ("bass", "drums", "guitar", "piano")
    ]
    dirac = {"label": "Dirac", "likelihood": "dirac", "churn": 20, "corrections": 1}
    gaussian = {
        "label": "Gaussian",
        "likelihood": "gaussian",
        "churn": 40,
        "corrections": 0,
        "gamma_over_sigma": 1.4,
    }
    for name, models, variant in (("dirac", [str(msdm)], dirac), ("gauss", [str(msdm)], gaussian),
                                  ("isdm", isdm, dirac)):  # fmt: skip
        summary = _separate(data, name, "--models", *models, variant=variant)
        assert summary["chunks"] > 0 and all(np.isfinite(summary[s]) for s in ("bass", "piano", "All"))
        rows = list(csv.DictReader(open(data / f"{name}.csv")))
        assert len(rows) == summary["chunks"] and rows[0].keys() >= {"track", "start", "end", "bass"}
    index = json.loads((data / "ex_dirac" / "index.json").read_text())
    labels = [f["label"] for f in index[0]["files"]]
    assert labels[0] == "mixture" and "bass (separated)" in labels and "bass (truth)" in labels
    assert all((data / "ex_dirac" / f["file"]).is_file() for f in index[0]["files"])
    # the Average baseline (every source y / N) has SI-SDRi 0 by construction
    average = _separate(data, "average", "--average", str(RATE))
    assert all(abs(average[s]) < 1e-3 for s in ("bass", "drums", "guitar", "piano"))
    # ISDM models are one per stem: a model of all stems among them is refused in one line
    proc = run(["harness", "msdm", "separate", "--data", str(data / "synthpop"), "--models", str(msdm), isdm[0],
                "--eval", EVAL, "--schedule", SCHEDULE, "--variant", json.dumps(dirac), *RUN,
                "--csv", str(data / "bad.csv"), "--summary", str(data / "bad.json")], check=False)  # fmt: skip
    assert proc.returncode != 0 and "not a single-stem (ISDM) model" in proc.stderr
    assert not (data / "bad.csv").exists()


def test_supervised_baseline_trains_and_separates(data):
    settings = {"sample_rate": RATE, "crop": 512, "lr": 1e-3, "batch_size": 2, "steps": 3, "checkpoint_every": 3,
                "log_every": 3, "stems": None, "hdemucs": {"channels": 4, "depth": 2, "nfft": 16},
                "convtasnet": {"enc_kernel_size": 8, "enc_num_feats": 8, "msk_kernel_size": 3, "msk_num_feats": 8,
                               "msk_num_hidden_feats": 8, "msk_num_layers": 1, "msk_num_stacks": 1}}  # fmt: skip
    for arch in ("hdemucs", "convtasnet"):
        out = data / f"{arch}.pt"
        run(["harness", "msdm", "train-supervised", "--arch", arch, "--data", str(data / "synthpop"),
             "--settings", json.dumps(settings), *RUN, "--checkpoint", str(data / f"{arch}.ckpt"), "--out", str(out),
             "--history", str(data / f"{arch}.csv"), "--meta", str(data / f"{arch}_meta.json")])  # fmt: skip
        summary = _separate(data, f"sep_{arch}", "--supervised", str(out))
        assert summary["chunks"] > 0 and np.isfinite(summary["All"])


def test_generation_fad_report_and_tables(data, tmp_path):
    msdm = _train(data, "one", "--kind", "msdm")
    mixture = _train(data, "mixture", "--kind", "mixture")
    encoder = data / "fad.pt"
    run(["harness", "audio", "fad-encoder", "--dataset", str(data / "synthpop"), "--settings",
         json.dumps({"steps": 4, "batch_size": 8, "lr": 1e-3, "checkpoint_every": 4, "embed_dim": 4}),
         "--seed", "1", "--threads", "1", "--checkpoint", str(data / "fad.ckpt"), "--out", str(encoder),
         "--history", str(data / "fad.csv"), "--meta", str(data / "fad.json")])  # fmt: skip
    common = ["--data", str(data / "synthpop"), "--encoder", str(encoder), "--backbone", "trained",
              "--generation", GENERATION, *RUN]  # fmt: skip
    for task, model in (("total", msdm), ("total", mixture), ("partial", msdm)):
        name = f"{task}_{Path(model).stem}"
        run(["harness", "msdm", "generate", "--task", task, "--model", str(model), *common,
             "--csv", str(tmp_path / f"{name}.csv"), "--examples", str(tmp_path / "examples" / name)])  # fmt: skip
    partial = list(csv.DictReader(open(tmp_path / "partial_one.csv")))
    assert len(partial) == 14 and all(float(r["fad"]) >= 0 for r in partial)
    assert partial[0]["generated"] == "Bass" and partial[0]["given"] == "Drums, Guitar, Piano"
    run(["harness", "msdm", "fad-baselines", *[c for c in common if c not in RUN[-2:]], "--sample-rate", str(RATE),
         "--csv", str(tmp_path / "baselines.csv")])  # fmt: skip
    baselines = list(csv.DictReader(open(tmp_path / "baselines.csv")))
    assert [b["task"] for b in baselines].count("partial") == 14
    sep = _separate(data, "rep_dirac", "--models", str(msdm),
                    variant={"label": "Dirac", "likelihood": "dirac", "churn": 20, "corrections": 0})  # fmt: skip
    assert sep["chunks"] > 0
    out = tmp_path / "results"
    run(["harness", "msdm", "report", f"--separation=Dirac / MSDM={data / 'rep_dirac.json'}",
         f"--total=MSDM={tmp_path / 'total_one.csv'}", f"--total=Mixture Model={tmp_path / 'total_mixture.csv'}",
         "--partial", str(tmp_path / "partial_one.csv"), "--baselines", str(tmp_path / "baselines.csv"),
         "--out-dir", str(out)])  # fmt: skip
    run(["harness", "msdm", "listen", "--examples", str(tmp_path / "examples" / "total_one"),
         str(tmp_path / "examples" / "partial_one"), str(data / "ex_rep_dirac"), "--out", str(out / "listen.html")])  # fmt: skip
    html = (out / "listen.html").read_text()
    assert "http" not in html and html.count("<audio") >= 2 + 14 + 9
    for src in __import__("re").findall(r"src='([^']+)'", html):
        assert (out / src).resolve().is_file(), src  # every link is relative and resolves
    (out / "figures").mkdir()
    for table in ("table_6_1", "table_6_2", "table_6_3"):
        run(["harness", "tables", "build", "--id", table, "--scale", "embedded", "--ours", str(out / f"{table}.csv"),
             "--out-dir", str(out / "tables"), "--figures-dir", str(out / "figures")])  # fmt: skip
        rows = list(csv.DictReader(open(out / "tables" / f"{table}.csv")))
        assert any(r["ours"] and r["thesis"] for r in rows), table
    t61 = {(r["row"], r["column"]): r for r in csv.DictReader(open(out / "tables" / "table_6_1.csv"))}
    assert t61[("MSDM", "FAD")]["thesis"] == "6.55" and float(t61[("MSDM", "FAD")]["ours"]) >= 0
    assert "listening test" in t61[("MSDM", "Quality")]["ours"]


def test_import_takes_a_users_weights_and_refuses_others(data, tmp_path):
    msdm = _train(data, "one", "--kind", "msdm")
    run(
        [
            "harness",
            "msdm",
            "import",
            "--weights",
            str(msdm),
            "--kind",
            "msdm",
            "--out",
            str(tmp_path / "m.pt"),
        ]
    )
    a, b = (torch.load(p, weights_only=True) for p in (msdm, tmp_path / "m.pt"))
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    proc = run(["harness", "msdm", "import", "--weights", str(msdm), "--kind", "mixture", "--out",
                str(tmp_path / "x.pt")], check=False)  # fmt: skip
    assert proc.returncode != 0 and "not of mixtures" in proc.stderr and not (tmp_path / "x.pt").exists()
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not a torch file")
    proc = run(["harness", "msdm", "import", "--weights", str(tmp_path / "junk.pt"), "--kind", "msdm", "--out",
                str(tmp_path / "y.pt")], check=False)  # fmt: skip
    assert proc.returncode != 0 and proc.stderr.strip().splitlines()[-1].startswith("harness: error:")


TOY_MSDM = {
    "diffusion": dict(TRAIN, sample_rate=22050, crop=1024, steps=4),
    "isdm": {"steps": 2, "unet": UNET},
    "supervised": {"sample_rate": 22050, "crop": 1024, "lr": 1e-3, "batch_size": 2, "steps": 2,
                   "checkpoint_every": 2, "log_every": 2, "stems": None, "hdemucs": {"channels": 4, "depth": 2, "nfft": 16},
                   "convtasnet": {"enc_kernel_size": 8, "enc_num_feats": 8, "msk_kernel_size": 3, "msk_num_feats": 8,
                                  "msk_num_hidden_feats": 8, "msk_num_layers": 1, "msk_num_stacks": 1}},
    "separation": {"eval": {"tracks": None, "seconds": None, "window_seconds": 1.0, "batch": 8, "chunk_seconds": 1.0,
                            "hop_seconds": 0.5},
                   "schedule": {"steps": 3, "sigma_min": 1e-3, "sigma_max": 1.0, "rho": 7.0}, "example_seconds": 1.0},
    "generation": {"samples": 3, "seconds": 1.0, "schedule": {"steps": 2, "sigma_min": 1e-3, "sigma_max": 1.0,
                   "rho": 7.0}, "churn": 20, "corrections": 1, "examples": 1},
}  # fmt: skip


@pytest.mark.slow
def test_thesis_profile_dag_runs_on_cpu_at_toy_size(http_root, tmp_path):
    """The thesis-scale MSDM DAG through the `gpu` profile and config/thesis.yaml, on CPU at toy size:
    Slakh-layout archives served on 127.0.0.1 and checked by sha256, the download rule, every
    training, separation and generation rule of the family and the thesis-scale tables, so a GPU
    user meets no untried line (only the sizes, the device and the FAD backbone differ)."""
    import yaml

    from conftest import copy_workflow, slakh_archives, slakh_download

    root, base = http_root
    sha = slakh_archives(root, seconds=3.0)
    toy = {
        "device": "cpu",
        "downloads_dir": "data/downloads",
        "audio": {"report": ["slakh"], "synthpop": {"tracks": {"train": 2, "valid": 1, "test": 1}, "bars": 2},
                  "fad": {"encoder": "trained", "dataset": "synthpop",
                          "training": {"steps": 2, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2, "embed_dim": 4}},
                  "datasets": {"slakh": slakh_download(base, sha)}},
        "msdm": TOY_MSDM,
        "resources": {r: {"gpu": 0} for r in ("msdm_train", "msdm_separate", "msdm_generate", "audio_report")},
    }  # fmt: skip
    wf = copy_workflow(tmp_path / "wf")
    (wf / "toy.yaml").write_text(yaml.safe_dump(toy))
    # (the listening page joins GMSDI's examples: tests/test_gmsdi.py's thesis-profile test builds it)
    targets = [f"results/thesis/tables/table_6_{i}.csv" for i in (1, 2, 3)]
    run(["snakemake", *targets, "--profile", "gpu", "--cores", "2", "--configfiles", "config.yaml",
         "config/thesis.yaml", "toy.yaml"], cwd=wf, timeout=1500)  # fmt: skip
    manifest = json.loads((wf / "data/thesis/audio/slakh/manifest.json").read_text())
    assert len(manifest["tracks"]) == 5
    for i in (1, 2, 3):
        rows = list(csv.DictReader(open(wf / f"results/thesis/tables/table_6_{i}.csv")))
        assert {r["scale"] for r in rows} == {"thesis"} and any(r["ours"] for r in rows)
    t62 = {
        (r["row"], r["column"]): r["ours"]
        for r in csv.DictReader(open(wf / "results/thesis/tables/table_6_2.csv"))
    }
    assert t62[("Dirac / ISDM (correction)", "All")] and t62[("Gaussian / MSDM", "Bass")]
    summary = json.loads((wf / "results/thesis/msdm/separation/msdm_dirac.json").read_text())
    assert summary["chunks"] > 0  # whole 3 s test songs, separated in 1 s windows
    log = (wf / "logs/thesis/msdm/separate_msdm_dirac.log").read_text()
    assert "separation:" in log
