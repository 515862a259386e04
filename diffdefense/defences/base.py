"""The interface every defence shares: purify a batch, and say how far each purified image is from its input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from ..progress import progress
from ..sharding import map_chunks


@dataclass
class Purified:
    """A defence's output for N images."""

    images: torch.Tensor  # N x C x H x W in [0, 1], what the classifier sees
    recon_error: torch.Tensor  # N: per-image MSE between the purified image and the input (detection score)


class Defence(Protocol):
    """Maps a batch of [0, 1] images (N x C x H x W) to `Purified`."""

    def __call__(self, images: torch.Tensor) -> Purified: ...


class DifferentiableDefence(Defence, Protocol):
    """A defence that can also purify with its autograd graph kept back to the input, so that a
    full-gradient adaptive attack differentiates through the purification itself."""

    def purify_with_graph(self, images: torch.Tensor) -> Purified:
        """What __call__ returns, with `images` of the result still differentiable in the input."""


Reconstruct = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def purify_in_chunks(reconstruct: Reconstruct, images: torch.Tensor, *, batch_size: int, device: torch.device,
                     desc: str, show_progress: bool = False) -> Purified:
    """Run `reconstruct(chunk, first_index) -> (purified, recon_error)` on `device` over chunks of
    `batch_size` images and gather the results on the CPU, so peak memory is set by `batch_size`
    whatever the number of images. `first_index` lets a defence seed its randomness per image, which is
    what lets processes started by torchrun share the chunks (diffdefense.sharding)."""
    bar = progress(total=-(-len(images) // batch_size), desc=desc, unit="batch", disable=not show_progress)

    def chunk(start: int) -> tuple[torch.Tensor, torch.Tensor]:
        out, err = reconstruct(images[start:start + batch_size].to(device), start)
        bar.update()
        return out.cpu(), err.cpu()

    results = map_chunks(chunk, range(0, len(images), batch_size))
    bar.close()
    return Purified(torch.cat([out for out, _ in results]), torch.cat([err for _, err in results]))
