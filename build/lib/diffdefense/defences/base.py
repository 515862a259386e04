"""The interface every defence shares: purify a batch, and say how far each purified image is from its input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass
class Purified:
    images: torch.Tensor  # N x C x H x W in [0, 1], what the classifier sees
    recon_error: torch.Tensor  # N: per-image MSE between the purified image and the input (detection score)


class Defence(Protocol):
    def __call__(self, images: torch.Tensor) -> Purified: ...
