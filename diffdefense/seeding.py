"""Seed every random number generator a stage may touch, and ask torch for deterministic kernels.

Called by each stage before it builds anything random (network weights, shuffles, attack starts), so
the same params give byte-identical outputs on the same device. On CUDA, torch's deterministic
algorithms are requested (CPU kernels are deterministic already, and the request costs every stage ~5 s
of imports); kernels that have none (torch warns) and floating-point differences
between devices or thread counts are the only sources of variation left (README: Reproducibility)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (CPU and CUDA) with `seed`, and select
    deterministic CUDA kernels (ART's Square Attack draws from numpy's global generator, torch's
    initialisers from torch's)."""
    # cuBLAS reads this when CUDA is first initialised; without it deterministic matmuls raise.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def derived_seed(seed: int, index: int) -> int:
    """The seed of the `index`-th independent stream under `seed` (an image of a defence, a batch of an
    attack, a draw of an EOT attack): fixed by (seed, index) alone, so results do not depend on how the
    work is batched or shared between processes."""
    return seed * 1_000_003 + index
