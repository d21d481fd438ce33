"""The embedded scale's FAD encoder: a small log-mel CNN trained in the DAG to tell the stems of
the embedded dataset apart (which instrument plays in a 1 s clip).

No FAD backbone (VGGish, PANN, CLAP, EnCodec) ships its weights in a package, so the embedded
scale embeds audio with this network's penultimate layer instead; tables name it as what it is
("synthpop stem-classifier CNN, trained in the DAG"), never as VGGish. Like VGGish it embeds
every whole 1 s frame of a clip, and FAD fits its Gaussians over all frames.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from harness.core.atomic import atomic_path
from harness.core.errors import HarnessError
from harness.core.logs import progress
from harness.train.checkpoint import seed_everything
from harness.train.loop import RunFiles, finish_run, train_steps


class StemCNN(nn.Module):
    def __init__(self, sample_rate: int, n_classes: int, embed_dim: int, n_mels: int = 64, width: int = 32):
        super().__init__()
        import torchaudio

        self.sample_rate, self.embed_dim = sample_rate, embed_dim
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=1024, hop_length=256, n_mels=n_mels
        )

        def block(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
            )

        self.convs = nn.Sequential(block(1, width // 2), block(width // 2, width), block(width, 2 * width))
        self.embedding = nn.Linear(2 * width, embed_dim)
        self.classifier = nn.Linear(embed_dim, n_classes)

    def embed(self, clips: torch.Tensor) -> torch.Tensor:
        """``[batch, samples]`` -> ``[batch, embed_dim]``."""
        x = torch.log(self.mel(clips) + 1e-5).unsqueeze(1)
        return self.embedding(self.convs(x).mean(dim=(2, 3)))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.embed(clips)))


def frames(audio: np.ndarray, size: int) -> np.ndarray:
    """Whole ``size``-sample frames of a mono clip (a shorter clip is zero-padded to one frame)."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    if audio.shape[0] < size:
        audio = np.pad(audio, (0, size - audio.shape[0]))
    n = audio.shape[0] // size
    return audio[: n * size].reshape(n, size)


def stem_clips(dataset, split: str, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Non-silent ``seconds`` clips of every stem of a split, with the stem's index as label."""
    from harness.metrics.sisdr import is_silent

    size = round(seconds * dataset.sample_rate)
    clips, labels = [], []
    for track in progress(dataset.tracks(split), desc=f"{dataset.name} {split} clips"):
        for k, audio in enumerate(dataset.load(track).values()):
            for clip in frames(audio, size):
                if not is_silent(clip[None]):
                    clips.append(clip)
                    labels.append(k)
    if not clips:
        raise HarnessError(f"{dataset.name}: no non-silent clips in the {split} split")
    return np.stack(clips), np.asarray(labels)


@dataclass(frozen=True)
class EncoderSettings:
    """``audio.fad.training``: the stem classifier's training and embedding size."""

    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int
    embed_dim: int


def train_encoder(
    dataset, files: RunFiles, settings: EncoderSettings, seed: int, stop_after: int | None = None
) -> None:
    """Train the stem classifier on the train split; checkpoints every ``checkpoint_every`` steps
    and resumes after a kill; writes the model, its loss / validation-accuracy history and meta,
    then removes the checkpoint. ``stop_after`` stops there as a preemption would (tests)."""
    batch = settings.batch_size
    x_train, y_train = stem_clips(dataset, "train")
    x_valid, y_valid = stem_clips(dataset, "valid")
    rng = seed_everything(seed)
    model = StemCNN(dataset.sample_rate, len(dataset.stems), settings.embed_dim)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    tag = json.dumps({"settings": asdict(settings), "seed": seed, "n": len(x_train)}, sort_keys=True)

    def step_fn(rng):
        idx = rng.integers(len(x_train), size=batch)
        gain = rng.uniform(0.3, 1.5, size=(batch, 1)).astype(np.float32)  # loudness is not the class
        return nn.functional.cross_entropy(
            model(torch.from_numpy(x_train[idx] * gain)), torch.from_numpy(y_train[idx])
        )

    def evaluate():
        return {"valid_accuracy": round(accuracy(model, x_valid, y_valid), 5)}

    history, done = train_steps(model, opt, step_fn, settings.steps, rng, files.checkpoint, tag,
                                settings.checkpoint_every, evaluate, stop_after, desc="fad encoder", loss_digits=5)  # fmt: skip
    if not done:
        return
    state = {"state_dict": model.state_dict(), "sample_rate": dataset.sample_rate, "stems": dataset.stems,
             "embed_dim": model.embed_dim, "name": f"{dataset.name} stem-classifier CNN (trained in the DAG)"}  # fmt: skip
    with atomic_path(files.model) as tmp:
        torch.save(state, tmp)
    meta = {"name": state["name"], "stems": dataset.stems, "train_clips": len(x_train), "valid_clips": len(x_valid),
            "valid_accuracy": history[-1]["valid_accuracy"] if history else None,
            "parameters": sum(p.numel() for p in model.parameters()), "settings": dict(sorted(asdict(settings).items()))}  # fmt: skip
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint,
               ["step", "train_loss", "valid_accuracy"])  # fmt: skip


@torch.no_grad()
def accuracy(model: StemCNN, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    model.eval()
    pred = np.concatenate(
        [model(torch.from_numpy(x[i : i + batch])).argmax(-1).numpy() for i in range(0, len(x), batch)]
    )
    return float((pred == y).mean())


class TrainedEncoder:
    """FAD embeddings from a trained ``StemCNN`` file: one per whole 1 s frame of each clip."""

    def __init__(self, path: str | os.PathLike):
        if not os.path.isfile(path):
            raise HarnessError(f"FAD encoder {path} not found (run the audio_fad_encoder rule)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.model = StemCNN(state["sample_rate"], len(state["stems"]), state["embed_dim"])
            self.model.load_state_dict(state["state_dict"])
            self.name, self.sample_rate = str(state["name"]), int(state["sample_rate"])
        except Exception as err:
            raise HarnessError(
                f"{path}: not a FAD encoder file ({type(err).__name__}: {str(err)[:120]})"
            ) from None
        self.model.eval()

    @torch.no_grad()
    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        x = np.concatenate([frames(c, self.sample_rate) for c in clips])
        return np.concatenate(
            [self.model.embed(torch.from_numpy(x[i : i + 256])).numpy() for i in range(0, len(x), 256)]
        )


def fad_encoder(trained: str | os.PathLike | None, backbone: str, ckpt_dir: str | os.PathLike):
    """The FAD encoder of a step: a ``StemCNN`` file the DAG trained (``trained``), else a
    frechet-audio-distance backbone from ``ckpt_dir`` (``harness.metrics.fad.PackageEncoder``)."""
    if trained:
        return TrainedEncoder(trained)
    from harness.metrics.fad import PackageEncoder

    return PackageEncoder(backbone, ckpt_dir)


def backbone_encoder(backbone: str, trained: str | os.PathLike | None, ckpt_dir: str | os.PathLike):
    """The encoder a step's ``--backbone`` names: ``trained`` is the DAG's FAD encoder file
    ``trained`` (which must be given), any other a frechet-audio-distance backbone in ``ckpt_dir``."""
    if backbone == "trained" and not trained:
        raise HarnessError("--backbone trained needs --encoder (the audio_fad_encoder rule's model)")
    return fad_encoder(trained if backbone == "trained" else None, backbone, ckpt_dir)
