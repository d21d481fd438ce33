"""Training of the supervised separators (Table 6.2's Demucs row, and Table 5.5's Demucs and
Conv-Tasnet rows on drums + bass): torchaudio's ``HDemucs`` and ``ConvTasNet`` model classes
(``harness.audio.separators``), an L1 waveform loss, the shared resumable loop. They map a
mixture [B, 1, L], the sum of the stems they separate, to those stems [B, N, L]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.audio.arrays import random_crops
from harness.audio.separators import KIND, Separator, load_separator, separate_supervised  # noqa: F401
from harness.core.errors import HarnessError
from harness.train.checkpoint import seed_everything
from harness.train.files import save_state
from harness.train.loop import RunFiles, finish_run, train_steps


@dataclass(frozen=True)
class SupervisedSettings:
    sample_rate: int
    crop: int
    lr: float
    batch_size: int
    steps: int
    checkpoint_every: int
    log_every: int
    hdemucs: dict  # torchaudio.models.HDemucs keyword arguments (sources and channels are set here)
    convtasnet: dict  # torchaudio.models.ConvTasNet keyword arguments
    stems: list | None  # the stems to separate (their sum is the mixture); null: all of the dataset's


def train_separator(
    arch: str, tracks: list[np.ndarray], stems: list[str], settings: SupervisedSettings, seed: int,
    files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    if settings.stems:
        unknown = sorted(set(settings.stems) - set(stems))
        if unknown:
            raise HarnessError(
                f"supervised settings: the dataset has no stem {unknown[0]!r} (it has {stems})"
            )
        rows = [stems.index(s) for s in settings.stems]
        tracks, stems = [t[rows] for t in tracks], list(settings.stems)
    rng = seed_everything(seed)
    kwargs = getattr(settings, arch)
    model = Separator(arch, len(stems), kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)

    def step_fn(step_rng):
        clean = torch.from_numpy(random_crops(tracks, settings.batch_size, settings.crop, step_rng)).to(
            device
        )
        return (model(clean.sum(1, keepdim=True)) - clean).abs().mean()

    tag = repr((arch, stems, settings, seed))
    history, finished = train_steps(model, optimizer, step_fn, settings.steps, rng, files.checkpoint, tag,
                                    settings.log_every, stop_after=stop_after, desc=arch,
                                    checkpoint_every=settings.checkpoint_every)  # fmt: skip
    if not finished:
        return False
    config = {"arch": arch, "stems": stems, "kwargs": kwargs, "sample_rate": settings.sample_rate}
    save_state(files.model, KIND, {"config": config, "state_dict": model.state_dict()})
    meta = {"arch": arch, "stems": stems, "parameters": sum(p.numel() for p in model.parameters()),
            "steps": settings.steps}  # fmt: skip
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint, ["step", "train_loss"])
    return True
