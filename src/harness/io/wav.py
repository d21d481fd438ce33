"""WAV input and output with the checks every audio step needs.

Audio is a float32 array ``[channels, samples]``. ``read_wav`` stops with one line naming the file
and the cause on a missing, empty, corrupt or non-finite file, or on a sample rate other than the
expected one; ``read_stems`` also checks that every stem of a track has the same length.
``write_wav`` is atomic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from harness.core.atomic import atomic_path
from harness.core.errors import HarnessError


def read_wav(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """``(audio [channels, samples] float32, sample_rate)``; ``sample_rate`` given: it must match."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise HarnessError(f"{path}: empty file")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise HarnessError(f"{path}: not a readable audio file ({err})") from None
    if data.shape[0] == 0:
        raise HarnessError(f"{path}: no samples")
    if sample_rate is not None and sr != sample_rate:
        raise HarnessError(f"{path}: sample rate {sr} Hz, expected {sample_rate} Hz")
    audio = np.ascontiguousarray(data.T)
    if not np.isfinite(audio).all():
        raise HarnessError(f"{path}: contains NaN or infinite samples")
    return audio, sr


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write ``audio [channels, samples]`` atomically (``subtype`` PCM_16 for compact datasets)."""
    import soundfile as sf

    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if not np.isfinite(audio).all():
        raise HarnessError(f"{path}: refusing to write NaN or infinite samples")
    with atomic_path(path) as tmp:
        sf.write(tmp, audio.T, sample_rate, subtype=subtype, format="WAV")


def read_stems(
    directory: str | os.PathLike, stems: Iterable[str] | None = None, sample_rate: int | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """The ``<stem>.wav`` files of one directory (all of them when ``stems`` is None), checked to
    share one sample rate, one channel count and one length."""
    directory = Path(directory)
    if not directory.is_dir():
        raise HarnessError(f"{directory}: no such directory")
    names = list(stems) if stems is not None else sorted(p.stem for p in directory.glob("*.wav"))
    if not names:
        raise HarnessError(f"{directory}: no .wav files")
    audio, rates = {}, {}
    for name in names:
        audio[name], rates[name] = read_wav(directory / f"{name}.wav", sample_rate)
    if len(set(rates.values())) > 1:
        raise HarnessError(f"{directory}: stems have different sample rates {rates}")
    shapes = {name: a.shape for name, a in audio.items()}
    if len(set(shapes.values())) > 1:
        detail = ", ".join(f"{n} {c}x{s}" for n, (c, s) in shapes.items())
        raise HarnessError(f"{directory}: stems differ in channels or length ({detail})")
    return audio, next(iter(rates.values()))


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``[channels, samples]`` -> ``[1, samples]``, the mean of the channels."""
    return audio.mean(axis=0, keepdims=True)


def resample(audio: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc), e.g. 22.05 kHz stems for a 16 kHz model."""
    if orig_sr == new_sr:
        return audio
    import torch
    import torchaudio.functional as F

    return F.resample(torch.from_numpy(np.ascontiguousarray(audio)), orig_sr, new_sr).numpy()
