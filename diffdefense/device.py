"""Pick the compute device: CUDA when present, unless a param or DIFFDEFENSE_DEVICE forces one."""

from __future__ import annotations

import os

import torch

from .errors import UsageError, check_one_of


def resolve_device(requested: str = "auto") -> torch.device:
    """"auto" (CUDA when available, else CPU), "cpu" or "cuda"; the DIFFDEFENSE_DEVICE variable overrides."""
    requested = os.environ.get("DIFFDEFENSE_DEVICE", requested)
    check_one_of("device (param or DIFFDEFENSE_DEVICE)", requested, ["auto", "cpu", "cuda"])
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    elif requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("device='cuda' (param or DIFFDEFENSE_DEVICE) but this machine has no usable CUDA device; "
                         "use auto or cpu")
    if requested == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per process under torchrun
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(requested)
