"""Seeds of the pipeline's random steps, all derived from the config's master ``seed``."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, *stream: str | int) -> int:
    """A 32-bit seed for one named random stream (e.g. ``derive_seed(s, "odeen", "games", "test")``);
    distinct streams get independent seeds, the same stream always the same one."""
    words = [int(seed)] + [zlib.crc32(str(part).encode()) for part in stream]
    return int(np.random.SeedSequence(words).generate_state(1)[0])
