"""Baselines that explain the numbers: no defence, and input binarisation (bit-depth-1 feature squeezing,
Xu et al., 2018). On MNIST's near-binary digits, rounding each pixel removes any perturbation smaller
than a pixel's distance to 0.5, so it is the cheapest comparison for a purification defence."""

from __future__ import annotations

import torch

from ..settings import Num, Setting, Settings
from .base import Defence, reconstruction_error


class NoDefence(Defence):
    """The identity: the classifier sees its input (reconstruction error 0)."""

    differentiable = True
    identity = True

    def reconstruct(self, x: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The input (itself with `keep_graph`, so gradients pass straight through; else a copy)."""
        out = x if keep_graph else x.clone()
        return out, reconstruction_error(out.detach(), x.detach())


class Binarize(Defence):
    """Pixels above `threshold` become 1, the others 0 (zero gradient almost everywhere: BPDA only)."""

    settings = Settings(threshold=Setting(Num(0, 1, open_low=True, open_high=True), 0.5, "pixels above it become 1"))

    def reconstruct(self, x: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Each pixel rounded to 0 or 1 at `threshold`."""
        out = (x > self.threshold).to(x.dtype)
        return out, reconstruction_error(out, x)
