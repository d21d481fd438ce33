"""harness: the reproducibility pipeline for *Harnessing the capabilities of Generative Models*."""

__version__ = "0.1.0"
