"""``chorales``: the Bach chorales that ship with music21, one stem per voice (CocoChorales-like).

Every chorale of the music21 corpus with Soprano, Alto, Tenor and Bass parts is a candidate; a
seeded draw picks the configured number and assigns the splits. Each song gets a tempo and an
ensemble, as CocoChorales does (strings, brass or woodwinds: one General MIDI instrument per
voice), and is cut at ``max_seconds``. The four voices are rendered as separate stems, which sum
to the mixture.
"""

from __future__ import annotations

import numpy as np

from harness.audio.embedded import Song, assign_splits
from harness.audio.render import Note, Part
from harness.core.errors import HarnessError

STEMS = ["soprano", "alto", "tenor", "bass"]
ENSEMBLES = {  # General MIDI programs, soprano to bass
    "strings": [40, 40, 41, 42],  # violin, violin, viola, cello
    "brass": [56, 60, 57, 58],  # trumpet, french horn, trombone, tuba
    "woodwind": [73, 68, 71, 70],  # flute, oboe, clarinet, bassoon
}


def satb_paths() -> list:
    from music21 import corpus

    return sorted(corpus.getComposer("bach", fileExtensions=("mxl",)), key=lambda p: p.name)


def voice_notes(part, beat: float, max_seconds: float) -> list[Note]:
    notes = []
    for n in part.stripTies().flatten().notes:
        start = float(n.offset) * beat
        if start >= max_seconds:
            break
        end = min(start + float(n.quarterLength) * beat, max_seconds)
        release = end - min(0.03, 0.1 * (end - start))  # re-articulate repeated notes
        notes += [Note(p.midi, start, release, 80) for p in n.pitches]
    return notes


def make_songs(
    seed: int, tracks: dict[str, int], max_seconds: float, bpm: tuple[int, int] = (66, 96)
) -> list[Song]:
    from music21 import corpus

    rng = np.random.default_rng(seed)
    splits = assign_splits(tracks)
    candidates = list(rng.permutation(len(paths := satb_paths())))
    songs = []
    while len(songs) < len(splits):
        if not candidates:
            raise HarnessError(f"music21 has fewer than {len(splits)} SATB chorales")
        path = paths[candidates.pop(0)]
        score = corpus.parse(path)
        by_name = {(p.partName or "").strip().lower(): p for p in score.parts}
        if not all(s in by_name for s in STEMS):
            continue
        tempo = float(rng.integers(bpm[0], bpm[1] + 1))
        beat = 60.0 / tempo
        seconds = min(float(score.highestTime) * beat, max_seconds)
        ensemble = list(ENSEMBLES)[int(rng.integers(len(ENSEMBLES)))]
        parts = {
            stem: Part(program=ENSEMBLES[ensemble][i], notes=voice_notes(by_name[stem], beat, seconds))
            for i, stem in enumerate(STEMS)
        }
        split = splits[len(songs)]
        meta = {"source": f"music21 corpus bach/{path.name}", "bpm": tempo, "ensemble": ensemble}
        songs.append(Song(f"chorale{len(songs) + 1:03d}", split, round(seconds, 6), parts, meta))
    return songs
