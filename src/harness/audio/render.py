"""MIDI to audio through Debian's fluidsynth and a General MIDI soundfont, one stem at a time.

Starting fluidsynth loads the 148 MB soundfont (most of a render's time), so every stem of a
whole dataset is rendered in one call: the tracks are laid end to end in one MIDI file with
``gap`` seconds of silence between them, and the rendered audio is cut back into tracks. Each
track's audio is exactly its nominal length; a note still ringing at the end is cut there.
fluidsynth starts notes on 64-sample block boundaries, so a track's onsets may lag by up to about
7 ms (one block plus the attack latency), the same for all of its stems.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float  # seconds from the start of the track
    end: float
    velocity: int = 90


@dataclass
class Part:
    """The notes of one stem of one track, played by one General MIDI program (or the drum kit)."""

    program: int
    notes: list[Note] = field(default_factory=list)
    is_drum: bool = False


def find_soundfont(path: str | None = None) -> str:
    """``path`` when given (it must be a SoundFont: never a silent fall-back to another one),
    else the first of Debian's General MIDI soundfonts that is installed."""
    if path:
        if not Path(path).is_file():
            raise HarnessError(f"soundfont {path}: no such file")
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise HarnessError(f"soundfont {path}: not a SoundFont (.sf2) file")
        return path
    for candidate in SOUNDFONTS:
        if Path(candidate).is_file():
            return candidate
    raise HarnessError(
        f"no General MIDI soundfont at {path or ' or '.join(SOUNDFONTS)} (install Debian's fluid-soundfont-gm)"
    )


def _fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise HarnessError("fluidsynth not found (install Debian's fluidsynth: `make deb`)")
    return exe


def render_tracks(
    parts: list[Part | None],
    lengths: list[float],
    sample_rate: int,
    soundfont: str,
    gap: float = 2.0,
    gain: float = 0.5,
) -> list[np.ndarray]:
    """Render one stem of many tracks (``parts[k]`` lasting ``lengths[k]`` s; None: silent) in one
    fluidsynth call; returns a mono float32 array of ``round(lengths[k] * sample_rate)`` per track."""
    import pretty_midi

    offsets = np.concatenate([[0.0], np.cumsum(np.asarray(lengths) + gap)])[:-1]
    midi = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=120.0)
    instruments: dict[tuple[int, bool], pretty_midi.Instrument] = {}
    for part, offset in zip(parts, offsets):
        if part is None:
            continue
        key = (part.program, part.is_drum)
        if key not in instruments:
            instruments[key] = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum)
        for n in part.notes:
            instruments[key].notes.append(
                pretty_midi.Note(
                    velocity=int(n.velocity), pitch=int(n.pitch), start=offset + n.start, end=offset + n.end
                )
            )
    if len([k for k in instruments if not k[1]]) > 15:
        raise HarnessError("more than 15 General MIDI programs in one stem: MIDI has 15 melodic channels")
    midi.instruments = list(instruments.values())
    total = int(round((offsets[-1] + lengths[-1] + gap) * sample_rate)) if len(lengths) else 0
    mono = (
        _run_fluidsynth(midi, sample_rate, soundfont, gain) if midi.instruments else np.zeros(0, np.float32)
    )
    if mono.shape[0] < total:
        mono = np.pad(mono, (0, total - mono.shape[0]))
    out = []
    for offset, length in zip(offsets, lengths):
        start = int(round(offset * sample_rate))
        out.append(
            np.ascontiguousarray(mono[start : start + int(round(length * sample_rate))], dtype=np.float32)
        )
    return out


def _run_fluidsynth(midi, sample_rate: int, soundfont: str, gain: float) -> np.ndarray:
    """Render a PrettyMIDI object to a mono float32 array."""
    from harness.io.wav import read_wav

    with tempfile.TemporaryDirectory(prefix="harness-render-") as tmp:
        mid, wav = os.path.join(tmp, "stem.mid"), os.path.join(tmp, "stem.wav")
        midi.write(mid)
        cmd = [
            _fluidsynth(),
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-O",
            "float",
            "-g",
            str(gain),
            "-r",
            str(sample_rate),
        ]
        proc = subprocess.run(cmd + ["-F", wav, soundfont, mid], capture_output=True, text=True)
        if "failed to load" in proc.stderr.lower() or "not a soundfont" in proc.stderr.lower():
            raise HarnessError(
                f"fluidsynth could not load soundfont {soundfont}: {proc.stderr.strip()[-200:]}"
            )
        if proc.returncode != 0 or not os.path.exists(wav):
            raise HarnessError(f"fluidsynth failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
        audio, sr = read_wav(wav)
    if sr != sample_rate:
        raise HarnessError(f"fluidsynth wrote {sr} Hz, asked for {sample_rate} Hz")
    return audio.mean(axis=0)
