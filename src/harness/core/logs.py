"""Logging for pipeline steps: to stderr, and to the rule's log file when one is given."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm.auto import tqdm

LOG = logging.getLogger("harness")


def setup_logging(log_file: str | None = None, verbose: bool = False) -> None:
    LOG.handlers.clear()
    LOG.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    # the CLI prints a failing step's cause itself, once; the log file still records it
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    LOG.addHandler(console)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        handler.setFormatter(fmt)
        LOG.addHandler(handler)
    LOG.propagate = False


def progress(iterable=None, **kwargs):
    """A progress bar on stderr for long loops (quiet when stderr is not a terminal)."""
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("disable", None)
    return tqdm(iterable, file=sys.stderr, **kwargs)
