"""harness: the reproducibility pipeline for *Harnessing the capabilities of Generative Models*."""

from harness.core.offline import go_offline

# Offline before any library is imported: huggingface_hub reads these once, at its import.
go_offline()

__version__ = "0.1.0"
