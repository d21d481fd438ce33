"""Figures of the pipeline: drawn off-screen, written atomically as PNG."""

from __future__ import annotations

from harness.core.atomic import atomic_path


def pyplot():
    """matplotlib.pyplot on the off-screen Agg backend (no display on cluster nodes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` as PNG (atomically) and release it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)
