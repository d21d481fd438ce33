"""CompoNet's training examples and tasks (thesis 6.5, Figure 6.6): two subsets of a track's
stems, the input Y and the output X (|X| > 0), their sub-mixes m_Y and m_X, and the prompt of
eq. 6.20, the tags of Y, a separator token, the tags of X.

The relation between Y and X is the task (Tables 6.6-6.7). The thesis's Figure 6.6 is not in its
text, so the five columns are read from the tables' entries (Audit and InstructME "add, remove,
extract, replace"):

- UG, unconditional generation: Y is empty;
- AG, accompaniment generation: X and Y share no stem;
- SS, source separation: X is a part of Y (extract X, or equally remove Y minus X);
- EA, edit by adding: Y is a part of X (the input with stems added);
- ER, edit by replacing: X keeps some stems of Y, drops others and adds new ones.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

SEP = "[SEP]"
TASKS = ("UG", "AG", "SS", "EA", "ER")
TASK_NAMES = {
    "UG": "unconditional generation",
    "AG": "accompaniment generation",
    "SS": "source separation",
    "EA": "edit: add stems",
    "ER": "edit: replace stems",
}


def task_of(inputs, outputs) -> str:
    """The task of input stems Y and output stems X (X non-empty)."""
    y, x = set(inputs), set(outputs)
    if not x:
        raise ValueError("the output stems X must not be empty")
    if not y:
        return "UG"
    if not x & y:
        return "AG"
    if x < y:
        return "SS"
    if y <= x:
        return "EA"
    return "ER"


def prompt(inputs, outputs, tags: dict[str, str]) -> str:
    """Eq. 6.20's text: "bass, piano [SEP] drums" (each side in the dataset's stem order)."""
    side = lambda stems: ", ".join(tags[s] for s in stems)  # noqa: E731
    return f"{side(inputs)} {SEP} {side(outputs)}".strip()


def all_pairs(stems: list[str]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every (Y, X) over ``stems``: Y any subset, X any non-empty subset (4 stems: 16 x 15)."""
    subsets = [c for k in range(len(stems) + 1) for c in combinations(stems, k)]
    return [(y, x) for y in subsets for x in subsets if x]


def draw_pair(present: list[str], stems: list[str], rng: np.random.Generator):
    """A random (Y, X) among the stems ``present`` in a chunk (kept in ``stems`` order): each
    stem joins Y with probability 1/2 and X with probability 1/2, X redrawn until non-empty, so
    every task of Figure 6.6 is trained."""
    order = [s for s in stems if s in present]
    while True:
        y = tuple(s for s in order if rng.random() < 0.5)
        x = tuple(s for s in order if rng.random() < 0.5)
        if x:
            return y, x


def submix(sources: np.ndarray, stems: list[str], chosen) -> np.ndarray:
    """The sum of the ``chosen`` stems of ``sources`` [N, samples] (silence for none)."""
    idx = [stems.index(s) for s in chosen]
    return sources[idx].sum(0) if idx else np.zeros(sources.shape[-1], sources.dtype)
