"""Every training step survives a real kill: SIGKILL once its first checkpoint is on disk, run the
same command again, and the model, history and meta equal those of a run never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_odeen_models import _data

from conftest import BIN

RUNTIME = ["--seed", "11", "--threads", "1"]


def _odeen(tmp: Path) -> list[str]:
    from harness.odeen.games import write_npz

    write_npz(str(tmp / "train.npz"), **_data(n_rules=3, m=64))
    hp = {"d_model": 32, "n_heads": 2, "n_layers": 2, "d_ff": 64, "dropout": 0.0, "steps": 300,
          "batch_size": 16, "lr": 1e-3, "checkpoint_every": 10, "log_every": 10}  # fmt: skip
    return ["odeen", "train", "--kind", "interpreter", "--data", "train.npz", "--table-size", "32",
            "--hparams", json.dumps(hp), "--device", "cpu", *RUNTIME]  # fmt: skip


def _mnist(tmp: Path) -> None:
    from harness.lass.data import package_arrays

    images = package_arrays()["train_images"][:400]
    with open(tmp / "mnist.npz", "wb") as fh:
        np.savez(fh, train_images=images)


VQVAE = {
    "codes": 16,
    "dim": 8,
    "beta": 0.25,
    "decay": 0.99,
    "dead_code": 2,
    "steps": 300,
    "batch_size": 16,
    "lr": 1e-3,
    "checkpoint_every": 10,
}


def _vqvae(tmp: Path) -> list[str]:
    _mnist(tmp)
    return ["lass", "train-vqvae", "--data", "mnist.npz", "--valid", "50", "--settings", json.dumps(VQVAE),
            "--device", "cpu", *RUNTIME]  # fmt: skip


def _prior(tmp: Path) -> list[str]:
    _mnist(tmp)
    quick = dict(VQVAE, steps=2, checkpoint_every=1)
    subprocess.run(
        [str(BIN / "harness"), "lass", "train-vqvae", "--data", "mnist.npz", "--valid", "50",
         "--settings", json.dumps(quick), "--device", "cpu", *RUNTIME, "--out", "vqvae.pt",
         "--history", "vqvae.csv", "--meta", "vqvae.json", "--checkpoint", "vqvae.ckpt"],
        cwd=tmp, check=True, capture_output=True,
    )  # fmt: skip
    prior = {"n_layer": 2, "n_embd": 32, "n_head": 2, "steps": 300, "batch_size": 16, "lr": 1e-3,
             "lr_schedule": "cosine", "warmup": 20, "checkpoint_every": 10}  # fmt: skip
    return ["lass", "train-prior", "--data", "mnist.npz", "--vqvae", "vqvae.pt", "--valid", "50",
            "--settings", json.dumps(prior), "--device", "cpu", *RUNTIME]  # fmt: skip


def _fad_encoder(tmp: Path) -> list[str]:
    from harness.audio import synthpop
    from harness.audio.embedded import write_dataset

    songs = synthpop.make_songs(1, {"train": 2, "valid": 1, "test": 1}, 2)
    write_dataset(tmp / "synthpop", "synthpop", synthpop.STEMS, songs, 8000)
    settings = {"steps": 300, "batch_size": 8, "lr": 1e-3, "checkpoint_every": 10, "embed_dim": 8}
    return ["audio", "fad-encoder", "--dataset", "synthpop", "--settings", json.dumps(settings), *RUNTIME]


def _msdm(tmp: Path) -> list[str]:
    _fad_encoder(tmp)  # the same tiny synthpop set
    unet = {"channels": [8, 8], "factors": [4, 4], "items": [1, 1], "attentions": [0, 0], "attention_heads": 2,
            "attention_features": 8, "modulation_features": 16}  # fmt: skip
    settings = {"sample_rate": 8000, "crop": 256, "sigma_data": 0.1, "p_mean": -1.0, "p_std": 1.0, "ema": 0.9,
                "lr": 1e-3, "batch_size": 2, "steps": 300, "checkpoint_every": 10, "log_every": 10, "unet": unet}  # fmt: skip
    return ["msdm", "train", "--kind", "msdm", "--data", "synthpop", "--settings", json.dumps(settings),
            "--device", "cpu", *RUNTIME]  # fmt: skip


def _supervised(tmp: Path) -> list[str]:
    _fad_encoder(tmp)
    settings = {"sample_rate": 8000, "crop": 256, "lr": 1e-3, "batch_size": 2, "steps": 200, "checkpoint_every": 10,
                "log_every": 10, "stems": None, "hdemucs": {"channels": 4, "depth": 2, "nfft": 16}, "convtasnet": {}}  # fmt: skip
    return ["msdm", "train-supervised", "--arch", "hdemucs", "--data", "synthpop", "--settings",
            json.dumps(settings), "--device", "cpu", *RUNTIME]  # fmt: skip


def _cocola(tmp: Path) -> list[str]:
    from harness.audio import chorales
    from harness.audio.embedded import write_dataset

    write_dataset(tmp / "chorales", "chorales", chorales.STEMS,
                  chorales.make_songs(2, {"train": 2, "valid": 1, "test": 1}, 4.0), 16000)  # fmt: skip
    features = {"sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 32,
                "f_min": 60.0, "f_max": 7800.0}  # fmt: skip
    training = {"window_seconds": 0.5, "batch_size": 4, "max_overlap": 0.5, "noise": 1e-3, "active_db": -45.0,
                "lr": 1e-3, "steps": 120, "checkpoint_every": 10, "log_every": 10, "valid_groups": 20}  # fmt: skip
    model = {"width": 0.25, "depth": 0.25, "dropout": 0.1, "stochastic_depth": 0.2, "embedding_dim": 16,
             "similarity": "bilinear", "temperature": 0.1}  # fmt: skip
    evaluation = {"ks": [2], "groups": 10, "valid_pairs": 4}
    subprocess.run([str(BIN / "harness"), "cocola", "split", "--data", "chorales", "--features", json.dumps(features),
                    "--training", json.dumps(training), "--evaluation", json.dumps(evaluation), "--seed", "1",
                    "--out", "split.json"], cwd=tmp, check=True, capture_output=True)  # fmt: skip
    return ["cocola", "train", "--name", "all", "--data", "chorales", "--split", "split.json", "--features",
            json.dumps(features), "--model", json.dumps(model), "--settings", json.dumps(training),
            "--device", "cpu", *RUNTIME]  # fmt: skip


STEPS = {
    "cocola train": _cocola,
    "msdm train": _msdm,
    "msdm train-supervised": _supervised,
    "odeen train": _odeen,
    "lass train-vqvae": _vqvae,
    "lass train-prior": _prior,
    "audio fad-encoder": _fad_encoder,
}


def _outputs(name: str, step: str) -> list[str]:
    """The command's output flags for run ``name`` (odeen train names its meta --summary)."""
    files = ["--out", f"{name}.pt", "--history", f"{name}.csv", "--checkpoint", f"{name}.ckpt"]
    return files + ["--summary" if step == "odeen train" else "--meta", f"{name}.json"]


def _weights(path: Path) -> dict:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    return blob.get("state_dict") or blob.get("state") or blob


@pytest.mark.parametrize("step", sorted(STEPS))
def test_training_step_resumes_after_sigkill_to_the_same_model(step, tmp_path):
    cmd = [str(BIN / "harness")] + STEPS[step](tmp_path)
    subprocess.run(cmd + _outputs("whole", step), cwd=tmp_path, check=True, capture_output=True)

    proc = subprocess.Popen(cmd + _outputs("killed", step), cwd=tmp_path, stderr=subprocess.PIPE)
    ckpt = tmp_path / "killed.ckpt"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # as the cluster does when a job's time is up
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before its first checkpoint"
    assert ckpt.exists() and not (tmp_path / "killed.pt").exists()  # no model yet, a checkpoint

    again = subprocess.run(cmd + _outputs("killed", step), cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed" in again.stderr.lower(), again.stderr[-2000:]
    assert not ckpt.exists()
    whole, killed = _weights(tmp_path / "whole.pt"), _weights(tmp_path / "killed.pt")
    assert whole.keys() == killed.keys() and all(torch.equal(whole[k], killed[k]) for k in whole)
    assert (tmp_path / "whole.csv").read_text() == (tmp_path / "killed.csv").read_text()
    metas = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "killed")]
    for meta in metas:
        meta.pop("provenance", None)
    assert metas[0] == metas[1]
