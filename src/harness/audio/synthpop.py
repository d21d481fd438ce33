"""``synthpop``: generated songs in the Slakh2100 4-stem layout (bass, drums, guitar, piano).

A seeded generator writes each song: a key and a tempo, a four-chord diatonic progression (one
chord per bar, repeated), a bass line, a drum pattern, a guitar part (strummed or arpeggiated)
and a piano part (sustained voicings, stabs or arpeggios), each with a General MIDI program drawn
from its instrument family. Instruments enter at bar 1 or 2 and rest for a whole bar now and
then, so some chunks hold one or two sources, as in real multitracks; the protocols' active-source
filters have something to filter.
"""

from __future__ import annotations

import numpy as np

from harness.audio.embedded import Song, assign_splits
from harness.audio.render import Note, Part

STEMS = ["bass", "drums", "guitar", "piano"]
PROGRAMS = {"bass": [32, 33, 34, 35, 38], "guitar": [24, 25, 26, 27, 29], "piano": [0, 1, 2, 4, 5]}
MAJOR, MINOR = [0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10]
PROGRESSIONS = [
    [0, 4, 5, 3],
    [0, 5, 3, 4],
    [5, 3, 0, 4],
    [0, 3, 4, 3],
    [0, 3, 0, 4],
    [1, 4, 0, 0],
    [0, 2, 3, 4],
]
KICK, SNARE, HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49
# drum patterns on a 16-step bar: (instrument, steps)
DRUM_PATTERNS = [
    [(KICK, [0, 8]), (SNARE, [4, 12]), (HAT, list(range(0, 16, 2)))],
    [(KICK, [0, 4, 8, 12]), (SNARE, [4, 12]), (OPEN_HAT, [2, 6, 10, 14])],
    [(KICK, [0, 6, 8]), (SNARE, [4, 12]), (HAT, list(range(16)))],
    [(KICK, [0, 10]), (SNARE, [8]), (HAT, list(range(0, 16, 2)))],
]


def _chord(scale: list[int], root: int, degree: int, size: int) -> list[int]:
    """Pitch classes (semitones above the key's tonic) of a diatonic chord built in thirds."""
    return [scale[(degree + 2 * i) % 7] + 12 * ((degree + 2 * i) // 7) for i in range(size)]


def _voice(pcs: list[int], low: int, high: int) -> list[int]:
    """Every pitch of the chord's pitch classes within [low, high]."""
    return [p for p in range(low, high + 1) if any((p - pc) % 12 == 0 for pc in pcs)]


def make_song(rng: np.random.Generator, song_id: str, split: str, bars: int) -> Song:
    tonic = int(rng.integers(0, 12))
    scale = MAJOR if rng.random() < 0.6 else MINOR
    bpm = float(rng.integers(90, 131))
    beat = 60.0 / bpm
    bar = 4 * beat
    step = bar / 16
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    programs = {stem: int(rng.choice(p)) for stem, p in PROGRAMS.items()}
    parts = {stem: Part(program=programs.get(stem, 0), is_drum=stem == "drums") for stem in STEMS}
    enters = {stem: int(rng.integers(0, 2)) if bars > 2 else 0 for stem in STEMS}
    enters[STEMS[int(rng.integers(len(STEMS)))]] = 0  # someone plays from the first beat
    bass_style, drum_style = int(rng.integers(3)), int(rng.integers(len(DRUM_PATTERNS)))
    guitar_style, piano_style = int(rng.integers(2)), int(rng.integers(3))
    vel = lambda base: int(np.clip(base + rng.integers(-12, 13), 30, 127))  # noqa: E731

    for b in range(bars):
        t0 = b * bar
        degree = progression[b % len(progression)]
        triad = [(tonic + pc) % 12 for pc in _chord(scale, tonic, degree, 3)]
        seventh = [(tonic + pc) % 12 for pc in _chord(scale, tonic, degree, 4)]
        root = 36 + (tonic + scale[degree]) % 12  # C2..B2
        playing = {s: b >= enters[s] and (b == enters[s] or rng.random() > 0.15) for s in STEMS}
        if playing["bass"]:
            if bass_style == 0:  # roots on every beat
                hits = [(i * beat, root, beat * 0.9) for i in range(4)]
            elif bass_style == 1:  # root - fifth
                hits = [(i * beat, root + (7 if i % 2 else 0), beat * 0.9) for i in range(4)]
            else:  # driving eighths with an octave jump
                hits = [(i * beat / 2, root + (12 if i == 6 else 0), beat * 0.45) for i in range(8)]
            parts["bass"].notes += [Note(p, t0 + t, t0 + t + d, vel(95)) for t, p, d in hits]
        if playing["drums"]:
            for pitch, steps in DRUM_PATTERNS[drum_style]:
                parts["drums"].notes += [
                    Note(pitch, t0 + s * step, t0 + s * step + 0.1, vel(90)) for s in steps
                ]
            if b == 0 or (b % 4 == 0 and rng.random() < 0.5):
                parts["drums"].notes.append(Note(CRASH, t0, t0 + 0.5, vel(90)))
        if playing["guitar"]:
            voicing = _voice(triad, 52, 71)[:5]
            if guitar_style == 0:  # strums on beats 1, 2+, 4 with a 12 ms spread
                for t in (0.0, 1.5 * beat, 3 * beat):
                    parts["guitar"].notes += [
                        Note(p, t0 + t + 0.012 * i, t0 + t + beat * 1.2, vel(75))
                        for i, p in enumerate(voicing)
                    ]
            else:  # eighth-note arpeggio
                for i in range(8):
                    p = voicing[i % len(voicing)]
                    parts["guitar"].notes.append(Note(p, t0 + i * beat / 2, t0 + (i + 1) * beat / 2, vel(70)))
        if playing["piano"]:
            voicing = _voice(seventh, 55, 76)[:4] + [root + 12]
            if piano_style == 0:  # sustained whole-bar voicing
                parts["piano"].notes += [Note(p, t0, t0 + bar * 0.98, vel(65)) for p in voicing]
            elif piano_style == 1:  # stabs on 2 and 4
                for t in (beat, 3 * beat):
                    parts["piano"].notes += [Note(p, t0 + t, t0 + t + beat * 0.4, vel(80)) for p in voicing]
            else:  # sixteenth arpeggio up and down
                seq = voicing + voicing[-2:0:-1]
                for i in range(16):
                    parts["piano"].notes.append(
                        Note(seq[i % len(seq)], t0 + i * step, t0 + (i + 1) * step, vel(60))
                    )
    total = round(bars * bar, 6)
    for part in parts.values():  # a strum or a crash ringing past the last bar ends with the song
        part.notes = [
            Note(n.pitch, n.start, min(n.end, total), n.velocity) for n in part.notes if n.start < total
        ]
    meta = {"bpm": bpm, "tonic": tonic, "mode": "major" if scale is MAJOR else "minor", "programs": programs}
    return Song(song_id, split, total, parts, meta)


def make_songs(seed: int, tracks: dict[str, int], bars: int) -> list[Song]:
    rng = np.random.default_rng(seed)
    return [make_song(rng, f"Track{i + 1:05d}", split, bars) for i, split in enumerate(assign_splits(tracks))]
