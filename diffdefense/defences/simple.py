"""Baselines that explain the numbers: no defence, and input binarisation (bit-depth-1 feature squeezing,
Xu et al., 2018). On MNIST's near-binary digits, rounding each pixel removes any perturbation smaller
than a pixel's distance to 0.5, so it is the cheapest comparison for a purification defence."""

from __future__ import annotations

import torch

from ..errors import UsageError
from .base import Purified


def _purified(images: torch.Tensor, output: torch.Tensor) -> Purified:
    return Purified(output, (output - images).pow(2).flatten(1).mean(1))


class NoDefence:
    """The identity: the classifier sees its input (reconstruction error 0)."""

    def __call__(self, images: torch.Tensor) -> Purified:
        """The input, unchanged (a copy)."""
        return _purified(images, images.clone())

    def purify_with_graph(self, images: torch.Tensor) -> Purified:
        """The input itself, so gradients pass straight through."""
        return _purified(images, images)


class Binarize:
    """Pixels above `threshold` become 1, the others 0."""

    def __init__(self, threshold: float = 0.5):
        if not 0 < threshold < 1:
            raise UsageError(f"defend.binarize.threshold={threshold!r} is out of range; expected a number in (0, 1)")
        self.threshold = threshold

    def __call__(self, images: torch.Tensor) -> Purified:
        """Each pixel rounded to 0 or 1 at `threshold`."""
        return _purified(images, (images > self.threshold).to(images.dtype))
