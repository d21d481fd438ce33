"""What produced a result: package versions, seed and device, recorded beside every number."""

from __future__ import annotations

import platform


def provenance(seed: int | None, device: str) -> dict:
    import numpy
    import torch

    from harness import __version__

    info = {
        "harness": __version__,
        "torch": str(torch.__version__),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "seed": seed,
        "device": device,
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
