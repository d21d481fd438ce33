"""COCOLA's data (thesis 7.3.1): stems of tracks, windows and the two disjoint sub-mixes of one.

A window of L samples is *usable* when at least two of its stems are active (RMS above
``active_db`` dBFS). Its two sub-mixes m1, m2 (eq. 7.1) sum two disjoint, non-empty sets of its
active stems: |X1| uniform in 1..n-1, |X2| uniform in 1..n-|X1| (the original code's draw),
so every sub-mix carries sound. Windows of one batch drawn from the same track overlap at most
r L. All offsets are in samples of the model's rate: the original code shifted its second pass
over MoisesDB by half a window counted at 16 kHz but applied to 44.1 kHz audio (windows then
overlapped 82 %, not r = 50 %); here the audio is resampled first, so an offset means one thing.

The split file (``harness cocola split``) fixes which tracks train, validate and test, and the
evaluation windows with their sub-mix pairs, so every model is scored on the same pairs and a
reader can rebuild them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.audio.dataset import SPLITS, StemDataset
from harness.core.atomic import atomic_path
from harness.core.errors import HarnessError
from harness.core.inputs import read_json
from harness.core.logs import progress

_IDS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_PAIR = {"type": "object", "required": ["track", "start", "anchor", "positive"], "additionalProperties": False,
         "properties": {"track": {"type": "string"}, "start": {"type": "integer", "minimum": 0},
                        "anchor": {**_IDS, "minItems": 1}, "positive": {**_IDS, "minItems": 1}}}  # fmt: skip
SPLIT_SCHEMA = {
    "type": "object",
    "required": ["dataset", "sample_rate", "window", "tracks", "pairs"],
    "properties": {
        "dataset": {"type": "string", "minLength": 1},
        "sample_rate": {"type": "integer", "minimum": 1000},
        "window": {"type": "integer", "minimum": 1},
        "tracks": {
            "type": "object",
            "required": list(SPLITS),
            "additionalProperties": False,
            "properties": {s: _IDS for s in SPLITS},
        },
        "pairs": {
            "type": "object",
            "additionalProperties": False,
            "properties": {s: {"type": "array", "items": _PAIR} for s in ("valid", "test")},
        },
    },
}


@dataclass
class Track:
    id: str
    stems: list[str]  # the stems the track has
    audio: np.ndarray  # [len(stems), samples] at the model's rate (in memory, or mapped from the cache)
    energy: np.ndarray  # [len(stems), frames + 1]: cumulative energy of 10 ms frames
    frame: int  # samples per frame; windows start and end on frame boundaries

    @property
    def samples(self) -> int:
        return self.audio.shape[-1]

    def _db(self, first, span: int) -> np.ndarray:
        """RMS (dBFS) of each stem over ``span`` frames from frame(s) ``first``."""
        power = (self.energy[:, first + span] - self.energy[:, first]) / max(span * self.frame, 1)
        return 10 * np.log10(np.maximum(power, 1e-20))

    def rms_db(self, start: int, length: int) -> np.ndarray:
        a, b = start // self.frame, (start + length) // self.frame
        return self._db(a, b - a)

    def active(self, start: int, length: int, active_db: float) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.rms_db(start, length) > active_db)]

    def usable_starts(self, length: int, active_db: float) -> np.ndarray:
        """Every start (in samples, on a frame boundary) of a window with two active stems."""
        n = (self.samples - length) // self.frame + 1
        if n <= 0:
            return np.zeros(0, np.int64)
        active = (self._db(np.arange(n), length // self.frame) > active_db).sum(0)
        return np.flatnonzero(active >= 2) * self.frame


def frame_of(sample_rate: int) -> int:
    return max(1, sample_rate // 100)


def _track(track_id: str, stems: list[str], audio: np.ndarray, frame: int) -> Track:
    n = audio.shape[-1] // frame
    frames = np.square(np.asarray(audio[:, : n * frame], np.float64)).reshape(len(stems), n, frame).sum(-1)
    energy = np.concatenate([np.zeros((len(stems), 1)), np.cumsum(frames, -1)], -1)
    return Track(track_id, stems, audio, energy, frame)


def load_split(path: str) -> dict:
    return read_json(path, SPLIT_SCHEMA, "COCOLA split file")


def check_split(split: dict, rate: int, window: int | None = None) -> None:
    """A split file made for this model: its sample rate and (when given) its window length."""
    if split["sample_rate"] != rate:
        raise HarnessError(
            f"the split of {split['dataset']} is at {split['sample_rate']} Hz, the model at {rate} Hz"
        )
    if window is not None and split["window"] != window:
        raise HarnessError(
            f"the split of {split['dataset']} has {split['window']}-sample windows, the model was trained on {window}"
        )


def load_tracks(root: str, ids: list[str], sample_rate: int, cache: str | None = None) -> list[Track]:
    """The tracks ``ids`` of a stem dataset, resampled, with only the stems each has. With
    ``cache`` (thesis scale: datasets larger than memory), each track is resampled once into
    ``cache/<dataset>/`` as a .npy file and mapped from disk instead of held in memory."""
    data = StemDataset(root, sample_rate)
    known = set(data.tracks())
    missing = [t for t in ids if t not in known]
    if missing:
        raise HarnessError(f"{root}: the split file names track {missing[0]!r}, which the dataset lacks")
    out = []
    for track in progress(ids, desc=f"loading {data.name}") if len(ids) > 50 else ids:
        stems = [s for s in data.stems if s in data.info(track)["stems"]]
        if cache:
            audio = _cached(Path(cache) / data.name, data, track, stems)
        else:
            loaded = data.load(track, stems)
            audio = np.concatenate([loaded[s] for s in stems]).astype(np.float32)
        out.append(_track(track, stems, audio, frame_of(sample_rate)))
    return out


def _cached(folder: Path, data: StemDataset, track: str, stems: list[str]) -> np.ndarray:
    """A track's stems at the dataset's load rate, from ``folder`` (written there on first use,
    atomically, so jobs sharing the cache never read a half-written file)."""
    name = hashlib.sha1(f"{track}|{'|'.join(stems)}|{data.sample_rate}".encode()).hexdigest()[:20] + ".npy"
    path = folder / name
    if not path.is_file():
        loaded = data.load(track, stems)
        with atomic_path(path, immediate=True) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.concatenate([loaded[s] for s in stems]).astype(np.float32))
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        raise HarnessError(f"{path}: a corrupt cache file ({err}); delete it to rebuild") from None


def draw_pair(active: list[int], rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Two disjoint non-empty subsets X1, X2 of ``active`` (at least two) stem indices."""
    if len(active) < 2:
        raise ValueError("a sub-mix pair needs two active stems")
    order = [active[i] for i in rng.permutation(len(active))]
    a = int(rng.integers(1, len(active)))  # |X1| in 1..n-1
    p = int(rng.integers(1, len(active) - a + 1))  # |X2| in 1..n-|X1|
    return sorted(order[:a]), sorted(order[a : a + p])


def eval_pairs(
    tracks: list[Track], window: int, hop: int, active_db: float, rng: np.random.Generator
) -> list[dict]:
    """Every usable window of the tracks every ``hop`` samples, each with one drawn sub-mix pair."""
    pairs = []
    for t in tracks:
        hop = max(t.frame, hop - hop % t.frame)
        for start in range(0, t.samples - window + 1, hop):
            active = t.active(start, window, active_db)
            if len(active) >= 2:
                x1, x2 = draw_pair(active, rng)
                pairs.append({"track": t.id, "start": start, "anchor": [t.stems[i] for i in x1],
                              "positive": [t.stems[i] for i in x2]})  # fmt: skip
    return pairs


def pair_audio(tracks: dict[str, Track], pair: dict, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(m1, m2) of one split-file pair: the sums of its anchor and positive stems (eq. 7.1)."""
    t = tracks[pair["track"]]
    if pair["start"] + window > t.samples:
        raise HarnessError(f"{t.id}: a pair at sample {pair['start']} runs past the track's end")
    index = {s: i for i, s in enumerate(t.stems)}
    unknown = [s for s in pair["anchor"] + pair["positive"] if s not in index]
    if unknown:
        raise HarnessError(f"{t.id}: the split file names stem {unknown[0]!r}, which the track lacks")
    clip = np.asarray(t.audio[:, pair["start"] : pair["start"] + window])
    return clip[[index[s] for s in pair["anchor"]]].sum(0), clip[[index[s] for s in pair["positive"]]].sum(0)


class WindowSampler:
    """Training batches (thesis 7.3.1): K tracks drawn with repetition (in proportion to their
    number of usable windows, so every window is equally likely, as in a concatenation of the
    datasets), a usable window of each drawn uniformly among those overlapping the batch's
    other windows of that track at most ``max_overlap``, and the two sub-mixes of each; the
    positive gets Gaussian noise of std ``noise`` (the thesis's augmentation)."""

    def __init__(self, tracks: list[Track], window: int, max_overlap: float, active_db: float, noise: float):
        starts = [t.usable_starts(window, active_db) for t in tracks]
        keep = [i for i, s in enumerate(starts) if len(s)]
        if not keep:
            raise HarnessError(
                f"no training window of {window} samples has two stems active above {active_db} dBFS"
            )
        self.tracks, self.starts = [tracks[i] for i in keep], [starts[i] for i in keep]
        self.window, self.active_db, self.noise = window, active_db, noise
        self.min_gap = int(np.ceil((1 - max_overlap) * window))
        counts = np.array([len(s) for s in self.starts], float)
        self.weights = counts / counts.sum()

    def batch(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """([K, L] anchors, [K, L] positives)."""
        anchors, positives, taken = [], [], {}
        self.drawn = []  # (track, start, anchor stems, positive stems) of the batch
        full: set[int] = set()  # tracks with no room left for another window
        while len(anchors) < k:
            if len(full) == len(self.tracks):
                raise HarnessError(
                    f"cannot find {k} windows overlapping at most {1 - self.min_gap / self.window:.0%}"
                    f" with two active stems in the {len(self.tracks)} training tracks"
                )
            i = int(rng.choice(len(self.tracks), p=self.weights))
            t, starts = self.tracks[i], self.starts[i]
            mine = taken.setdefault(i, [])
            free = (
                starts[np.all(np.abs(starts[:, None] - np.array(mine)[None]) >= self.min_gap, axis=1)]
                if mine
                else starts
            )
            if not len(free):
                full.add(i)
                continue
            start = int(free[rng.integers(len(free))])
            mine.append(start)
            x1, x2 = draw_pair(t.active(start, self.window, self.active_db), rng)
            clip = np.asarray(t.audio[:, start : start + self.window])
            self.drawn.append((t.id, start, x1, x2))
            anchors.append(clip[x1].sum(0))
            positives.append(
                clip[x2].sum(0) + self.noise * rng.standard_normal(self.window).astype(np.float32)
            )
        return np.stack(anchors), np.stack(positives)


def matching(ids: list[str], pattern: str | None) -> list[str]:
    """The ids a regular expression (``re.search``) selects; all of them when ``pattern`` is empty."""
    if not pattern:
        return ids
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise HarnessError(f"track filter {pattern!r} is not a regular expression ({err})") from None
    return [i for i in ids if compiled.search(i)]


def make_split(root: str, window: int, hop: int, active_db: float, sample_rate: int, seed: int,
               limits: dict[str, int | None] | None = None) -> dict:  # fmt: skip
    """The split file of a dataset: its manifest's split of the tracks, and the evaluation
    pairs of its validation and test tracks (``limits``: at most so many pairs per split, a
    seeded draw, e.g. to keep validation during training short)."""
    data = StemDataset(root, sample_rate)
    rng = np.random.default_rng(seed)
    split = {"dataset": data.name, "sample_rate": sample_rate, "window": window,
             "tracks": {s: data.tracks(s) for s in SPLITS}, "pairs": {}}  # fmt: skip
    for s in ("valid", "test"):
        pairs = eval_pairs(load_tracks(root, split["tracks"][s], sample_rate), window, hop, active_db, rng)
        limit = (limits or {}).get(s)
        if limit is not None and len(pairs) > limit:
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), limit, replace=False))]
        split["pairs"][s] = pairs
    return split
