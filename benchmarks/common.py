"""Helpers the benchmark scripts share: which machine measured, and where the numbers go."""

from __future__ import annotations

import json
import os
import platform


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores"


def write_result(path: str | None, result: dict) -> None:
    """Write the measured numbers as JSON when ``--out`` was given."""
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=2)
