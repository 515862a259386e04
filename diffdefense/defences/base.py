"""The base every defence shares: purify a batch, and say how far each purified image is from its input.

A defence is a subclass of `Defence` that implements `reconstruct(x, first_index, keep_graph)` for one
chunk of images; the base batches calls into chunks, seeds randomness per image, freezes the network
the defence runs, and (where `differentiable`) keeps the autograd graph for full-gradient attacks."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import UsageError, check_int_range
from ..progress import progress
from ..seeding import derived_seed
from ..settings import Settings
from ..sharding import map_chunks


@dataclass
class Purified:
    """A defence's output for N images."""

    images: torch.Tensor  # N x C x H x W in [0, 1], what the classifier sees
    recon_error: torch.Tensor  # N: per-image MSE between the purified image and the input (detection score)


def reconstruction_error(purified: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error between `purified` and `images`."""
    return (purified - images).pow(2).flatten(1).mean(1)


class Defence:
    """Maps a batch of [0, 1] images (N x C x H x W) to `Purified`, `batch_size` images at a time.

    Subclasses implement `reconstruct`, draw their randomness from `generators` (one per image, seeded
    by `seed` and the image's index, so an image's result depends neither on its batch nor on which
    process computes it), set `differentiable` if `reconstruct(..., keep_graph=True)` keeps the graph
    back to the input, name the weights files `load` reads in `weights`, and the networks the
    constructor takes first (positionally) in `networks`, by the names `defended_classifier` gives them
    (unet, schedule, generator). Its settings are declared once, in `settings` (diffdefense.settings): the
    constructor takes them as keywords, defaults and checks included, and sets each as an attribute.
    `section` names the params section they come from in errors (empty for a Python caller). The defence
    runs its own copy of the network, in eval mode with its parameters frozen: the caller's module is left
    as it was (mode, gradients, memory format)."""

    differentiable = False  # whether purify_with_graph is available (full-gradient adaptive attacks)
    randomised = False  # whether its output depends on `seed` (random starts or noise)
    identity = False  # whether it leaves the input as it is (nothing to reconstruct, no error to threshold)
    weights: tuple[str, ...] = ()  # files in the pipeline's models/ directory that `load` reads
    networks: tuple[str, ...] = ()  # what the constructor takes before the settings: unet, schedule, generator
    settings = Settings()  # its settings (a randomised defence declares its `seed`)

    def __init__(self, network: nn.Module | None = None, *, batch_size: int = 40, progress: bool = False,
                 section: str = "", bounds: dict | None = None, **settings):
        for key, value in vars(type(self).settings.resolve(settings, section, **(bounds or {}))).items():
            setattr(self, key, value)
        check_int_range("batch_size", batch_size, 1)
        self.network = copy.deepcopy(network).eval() if network is not None else None
        for p in self.network.parameters() if network is not None else ():
            p.requires_grad_(False)
        self.batch_size, self.progress = batch_size, progress

    @classmethod
    def load(cls, models_dir: Path, device: torch.device, **settings) -> "Defence":
        """The defence built on the pipeline's trained networks in `models_dir` (those named in `weights`)."""
        return cls(**settings)

    @property
    def device(self) -> torch.device:
        """Where the network is, and so where purification runs (the CPU for a defence without one)."""
        weight = next(self.network.parameters(), None) if self.network is not None else None
        return weight.device if weight is not None else torch.device("cpu")

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """C x H x W of the images the network is built for, if it says (None: any shape)."""
        return getattr(self.network, "image_shape", None)

    def generators(self, n: int, first_index: int) -> list[torch.Generator]:
        """One generator per image first_index..first_index+n-1, seeded by (seed, image index)."""
        return [torch.Generator(self.device).manual_seed(derived_seed(self.seed, first_index + i)) for i in range(n)]

    def __call__(self, images: torch.Tensor) -> Purified:
        """Purify `images` (N x C x H x W in [0, 1]) in chunks of `batch_size` images."""
        with torch.enable_grad():  # optimising defences take gradients even when the caller is in no_grad
            return purify_in_chunks(self.reconstruct, images, batch_size=self.batch_size, device=self.device,
                                    desc=type(self).__name__, show_progress=self.progress)

    def purify_with_graph(self, images: torch.Tensor) -> Purified:
        """What __call__ returns, with `images` of the result still differentiable in the input (all at
        once: a full gradient through the purification needs its whole graph)."""
        if not self.differentiable:
            raise UsageError(f"{type(self).__name__} is not differentiable end to end; attack it with BPDA")
        with torch.enable_grad():
            out, err = self.reconstruct(images.to(self.device), keep_graph=True)
        return Purified(out, err.detach())

    def reconstruct(self, x: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Purified images and per-image reconstruction errors for one chunk `x` whose first image has
        index `first_index` in the whole batch; with `keep_graph`, differentiable in `x`."""
        raise NotImplementedError


Reconstruct = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def purify_in_chunks(reconstruct: Reconstruct, images: torch.Tensor, *, batch_size: int, device: torch.device,
                     desc: str, show_progress: bool = False) -> Purified:
    """Run `reconstruct(chunk, first_index) -> (purified, recon_error)` on `device` over chunks of
    `batch_size` images and gather the results on the CPU, so peak memory is set by `batch_size`
    whatever the number of images. `first_index` lets a defence seed its randomness per image, which is
    what lets processes started by torchrun share the chunks (diffdefense.sharding)."""
    bar = progress(total=math.ceil(len(images) / batch_size), desc=desc, unit="batch", disable=not show_progress)

    def chunk(start: int) -> tuple[torch.Tensor, torch.Tensor]:
        out, err = reconstruct(images[start:start + batch_size].to(device), start)
        bar.update()
        return out.cpu(), err.cpu()

    results = map_chunks(chunk, range(0, len(images), batch_size))
    bar.close()
    return Purified(torch.cat([out for out, _ in results]), torch.cat([err for _, err in results]))
