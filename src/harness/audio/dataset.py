"""The common interface of every multi-stem dataset: a manifest, splits, tracks, chunks.

A dataset is a directory with ``manifest.json``::

    {"name": "synthpop", "sample_rate": 22050, "stems": ["bass", "drums", "guitar", "piano"],
     "tracks": [{"id": "Track00001", "split": "train", "seconds": 8.0,
                 "stems": {"bass": "train/Track00001/bass.wav", ...}}, ...]}

Paths are relative to the directory. A track may lack some stems (Slakh, MoisesDB): they load
as silence. The mixture is the sum of the stems, as in the MSDM protocol. The embedded datasets
and the thesis-scale downloaders write the same manifest, so every model reads data one way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.atomic import write_text
from harness.core.errors import HarnessError
from harness.core.inputs import read_json
from harness.io.wav import read_wav, resample, to_mono

SPLITS = ("train", "valid", "test")
# a file of the dataset: relative, inside the folder (no absolute path, no "..")
_FILE = {"type": "string", "pattern": r"^(?!/)(?!.*(^|/)\.\.(/|$)).+$"}
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["name", "sample_rate", "stems", "tracks"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "sample_rate": {"type": "integer", "minimum": 1000, "maximum": 384000},
        "stems": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
        },
        "tracks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "split", "stems"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "split": {"enum": list(SPLITS)},
                    "seconds": {"type": "number", "minimum": 0},
                    "stems": {
                        "type": "object",
                        "additionalProperties": {
                            "anyOf": [_FILE, {"type": "array", "minItems": 1, "items": _FILE}]
                        },
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Chunk:
    track: str
    start: int  # samples at the dataset's rate
    end: int
    active: tuple[str, ...]  # stems that are not silent in the chunk
    audio: dict[str, np.ndarray] | None = None  # {stem: [1, end - start]} when asked for


def write_manifest(
    root: str | os.PathLike, name: str, sample_rate: int, stems: list[str], tracks: list[dict]
) -> None:
    ids = [t["id"] for t in tracks]
    if len(set(ids)) != len(ids):
        raise HarnessError(
            f"{name}: track ids repeat ({sorted({i for i in ids if ids.count(i) > 1})[:3]} ...)"
        )
    manifest = {"name": name, "sample_rate": sample_rate, "stems": stems, "tracks": tracks}
    write_text(Path(root) / "manifest.json", json.dumps(manifest, indent=1) + "\n")


class StemDataset:
    """Tracks -> stems of one dataset directory; ``sample_rate`` resamples on load (e.g. 16 kHz)."""

    def __init__(self, root: str | os.PathLike, sample_rate: int | None = None):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise HarnessError(f"{self.root}: not a dataset (no manifest.json); run its data rule first")
        manifest = read_json(path, MANIFEST_SCHEMA, "manifest")
        self.name = manifest["name"]
        self.native_rate = int(manifest["sample_rate"])
        self.stems = list(manifest["stems"])
        self._tracks = {t["id"]: t for t in manifest["tracks"]}
        if len(self._tracks) != len(manifest["tracks"]):
            raise HarnessError(f"manifest {path}: a track id appears twice")
        unknown = {s for t in manifest["tracks"] for s in t["stems"]} - set(self.stems)
        if unknown:
            raise HarnessError(
                f"manifest {path}: tracks name stems not in its stem list ({sorted(unknown)[0]!r})"
            )
        self.sample_rate = sample_rate or self.native_rate

    def tracks(self, split: str | None = None) -> list[str]:
        if split is not None and split not in SPLITS:
            raise HarnessError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
        return [t for t, info in self._tracks.items() if split is None or info["split"] == split]

    def info(self, track: str) -> dict:
        if track not in self._tracks:
            raise HarnessError(f"{self.name}: no track {track!r}")
        return self._tracks[track]

    def seconds(self, track: str) -> float:
        """The track's length: the manifest's ``seconds`` (embedded datasets), else read from the
        header of its first stem file (downloaded datasets)."""
        info = self.info(track)
        if "seconds" in info:
            return float(info["seconds"])
        import soundfile

        first = next(iter(info["stems"].values()), None)
        first = first[0] if isinstance(first, list) else first
        if first is None:
            raise HarnessError(f"{self.name}/{track}: no stem files")
        try:
            header = soundfile.info(str(self.root / first))
        except (RuntimeError, OSError) as err:
            raise HarnessError(f"{self.root / first}: not a readable audio file ({err})") from None
        return header.frames / header.samplerate

    def load(self, track: str, stems: list[str] | None = None) -> dict[str, np.ndarray]:
        """``{stem: [1, samples]}`` mono at ``self.sample_rate``; absent stems are silence."""
        info, stems = self.info(track), stems or self.stems
        loaded = {}
        for stem in stems:
            if stem in info["stems"]:
                files = info["stems"][stem]  # a path, or several sources that sum to the stem
                files = files if isinstance(files, list) else [files]
                parts = [to_mono(read_wav(self.root / f, self.native_rate)[0]) for f in files]
                if len({p.shape for p in parts}) > 1:
                    raise HarnessError(f"{self.name}/{track}: the files of stem {stem} differ in length")
                loaded[stem] = sum(parts)
        if not loaded:
            raise HarnessError(f"{self.name}/{track}: none of the stems {stems}")
        length = {a.shape[-1] for a in loaded.values()}
        if len(length) > 1:
            raise HarnessError(f"{self.name}/{track}: stems differ in length {sorted(length)}")
        n = length.pop()
        out = {s: loaded.get(s, np.zeros((1, n), np.float32)) for s in stems}
        return {s: resample(a, self.native_rate, self.sample_rate) for s, a in out.items()}

    def mixture(self, track: str, stems: list[str] | None = None) -> np.ndarray:
        return sum(self.load(track, stems).values())

    def chunks(
        self,
        split: str,
        seconds: float,
        hop_seconds: float | None = None,
        min_active: int = 1,
        silence_threshold: float = 1.5e-5,
        stems: list[str] | None = None,
        with_audio: bool = False,
    ) -> Iterator[Chunk]:
        """Chunks of ``seconds`` every ``hop_seconds`` (default: no overlap) of each track of a
        split, keeping those with at least ``min_active`` non-silent stems (MSDM's silence test:
        ||x||_2 / n < threshold). ``min_active=2`` skips single-source chunks, as the protocols do."""
        from harness.metrics.sisdr import is_silent

        size = round(seconds * self.sample_rate)
        hop = round((hop_seconds or seconds) * self.sample_rate)
        for track in self.tracks(split):
            audio = self.load(track, stems)
            n = next(iter(audio.values())).shape[-1]
            for start in range(0, n - size + 1, hop):
                active = tuple(
                    s
                    for s, a in audio.items()
                    if not is_silent(a[:, start : start + size], silence_threshold)
                )
                if len(active) >= min_active:
                    clip = {s: a[:, start : start + size] for s, a in audio.items()} if with_audio else None
                    yield Chunk(track, start, start + size, active, clip)
