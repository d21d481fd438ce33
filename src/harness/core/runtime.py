"""The torch settings every step runs under: a fixed number of CPU threads and deterministic
kernels, so a rerun on the same machine gives the same bits (``make run`` twice, a preempted
job resumed). Across machines, float training may still differ in the last bits: the committed
results are compared within tolerances by ``harness results check``."""

from __future__ import annotations

import os


def deterministic_torch(threads: int | None) -> None:
    """Run torch on ``threads`` CPU threads (0 or None: torch's default) with deterministic
    algorithms (a kernel without a deterministic version warns instead of failing), cuDNN
    autotuning off and cuBLAS's workspace fixed, as torch's reproducibility notes ask."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def torch_device(device: str) -> str:
    """A step's ``--device``: ``cuda`` on a machine without one stops with one line."""
    import torch

    from harness.core.errors import HarnessError

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"--device {device}: no CUDA device on this machine")
    return device
