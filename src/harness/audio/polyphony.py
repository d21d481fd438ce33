"""``polyphony``: Renaissance polyphony from the music21 corpus (Palestrina's masses), rendered
with instruments the other embedded sets never use. COCOLA's held-out set, as MUSDB18-HQ is in
the thesis: scores by another composer, of another era, with four to six voices, played by a
choir, an organ, a recorder consort or plucked strings (one General MIDI program per voice).

Voices are stems in score order, top to bottom (``voice1`` ... ``voice6``); a piece with fewer
voices lacks the last stems, as a Slakh or MoisesDB track lacks some instruments. A seeded draw
picks the pieces, a tempo and an ensemble for each, and cuts each at ``max_seconds``.
"""

from __future__ import annotations

import numpy as np

from harness.audio.chorales import voice_notes
from harness.audio.embedded import Song, assign_splits
from harness.audio.render import Part
from harness.core.errors import HarnessError

STEMS = [f"voice{i}" for i in range(1, 7)]
ENSEMBLES = {  # General MIDI programs, top voice to bottom (the bottom program repeats)
    "choir": [52, 52, 53, 53, 52, 52],  # choir aahs, voice oohs
    "organ": [19, 19, 19, 19, 19, 19],  # church organ
    "recorders": [74, 74, 74, 71, 70, 70],  # recorders over clarinet and bassoons
    "plucked": [46, 24, 24, 25, 32, 32],  # harp, nylon and steel guitars, acoustic bass
}


def polyphony_paths() -> list:
    from music21 import corpus

    return sorted((p for p in corpus.getPaths() if "palestrina" in p.parts), key=lambda p: p.name)


def make_songs(
    seed: int, tracks: dict[str, int], max_seconds: float, bpm: tuple[int, int] = (120, 160)
) -> list[Song]:
    """``bpm``: quarter notes per minute (the pieces move in half and whole notes)."""
    from music21 import corpus

    rng = np.random.default_rng(seed)
    splits = assign_splits(tracks)
    paths = polyphony_paths()
    candidates = list(rng.permutation(len(paths)))
    songs = []
    while len(songs) < len(splits):
        if not candidates:
            raise HarnessError(f"music21 has fewer than {len(splits)} Palestrina pieces of 4-6 voices")
        path = paths[candidates.pop(0)]
        score = corpus.parse(path)
        if not 4 <= len(score.parts) <= len(STEMS):
            continue
        beat = 60.0 / float(rng.integers(bpm[0], bpm[1] + 1))
        seconds = min(float(score.highestTime) * beat, max_seconds)
        ensemble = list(ENSEMBLES)[int(rng.integers(len(ENSEMBLES)))]
        parts = {
            STEMS[i]: Part(program=ENSEMBLES[ensemble][i], notes=voice_notes(part, beat, seconds))
            for i, part in enumerate(score.parts)
        }
        parts = {stem: part for stem, part in parts.items() if part.notes}  # a voice that enters later
        if len(parts) < 3:
            continue
        meta = {"source": f"music21 corpus palestrina/{path.name}", "bpm": round(60.0 / beat),
                "ensemble": ensemble}  # fmt: skip
        songs.append(
            Song(f"polyphony{len(songs) + 1:03d}", splits[len(songs)], round(seconds, 6), parts, meta)
        )
    return songs
