"""Listening examples on disk: ``folder/<example>/<track>.wav`` (16-bit) and an ``index.json``
that lists them in order, the format the MSDM listening page reads (MSDM, ISDM and GMSDI write it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.io.wav import write_wav

INDEX = {"type": "array", "items": {"type": "object", "required": ["name", "files"],
         "properties": {"name": {"type": "string"}, "files": {"type": "array", "items": {
             "type": "object", "required": ["label", "file"],
             "properties": {"label": {"type": "string"}, "file": {"type": "string", "pattern": r"^[^/][^:]*$"}}}}}}}  # fmt: skip


def write_examples(folder: Path, examples: list[tuple[str, dict[str, np.ndarray]]], rate: int) -> None:
    """``folder/<example>/<track>.wav`` (16-bit), and ``index.json`` listing them in order."""
    index = []
    for name, tracks in examples:
        files = []
        for label, audio in tracks.items():
            file = f"{name}/{label.replace(' ', '_').replace('(', '').replace(')', '')}.wav"
            write_wav(folder / file, np.asarray(audio, np.float32).reshape(1, -1), rate, subtype="PCM_16")
            files.append({"label": label, "file": file})
        index.append({"name": name, "files": files})
    (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
