"""Defense-GAN (Samangouei et al., 2018): project each image onto the range of a trained generator G.

For each image x, R starts z_0 ~ N(0, I) take L steps of gradient descent with momentum on
||G(z) - x||^2 (the per-image mean squared error, summed over the batch so the step size does not
depend on how many images are reconstructed together). As in the authors' code: TensorFlow-style
momentum (v <- m v + grad, z <- z - eta v) with m = 0.7 and eta = lr (10) times decay (0.1) once
per ceil(0.8 L) steps (a staircase: one drop at 80% of the iterations). After the L updates the start
with the lowest MSE is kept; the defence returns G(z*) clamped to [0, 1] and that MSE as the
reconstruction error. All R starts of `batch_size` images go through the generator in one call; the
generator is frozen and in eval mode, so each image's result does not depend on its batch.

Cost, measured with the width-32 generator (diffdefense/models/gan.py) on one CPU core, 8 images in a
batch: ~0.67 s/image at L = 200, R = 10 and ~0.084 s/image at L = 25, R = 10 (the paper's Table 3,
on a GPU: 0.675 and 0.086).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import UsageError, check_int_range, check_positive
from .base import Purified, purify_in_chunks


class DefenceGAN:
    """Defense-GAN as a defence: `defence(images)` returns G(z*) for the best of R starts and its MSE.

    L: gradient steps per start; R: random starts per image; lr, momentum, decay: the step schedule
    (see the module docstring); seed: per-image seeds of the starts; batch_size: images per generator call."""

    def __init__(self, generator: nn.Module, *, L: int = 200, R: int = 10, lr: float = 10.0,
                 momentum: float = 0.7, decay: float = 0.1, seed: int = 0, batch_size: int = 64,
                 progress: bool = False):
        check_int_range("defend.defencegan.L", L, 1)
        check_int_range("defend.defencegan.R", R, 1)
        check_positive("defend.defencegan.lr", lr)
        check_positive("defend.defencegan.momentum", momentum, allow_zero=True)
        if momentum >= 1:
            raise UsageError(f"defend.defencegan.momentum={momentum!r} is out of range; expected a number in [0, 1)")
        check_positive("defend.defencegan.decay", decay)
        check_int_range("defend.defencegan.seed", seed, 0)
        check_int_range("defend.batch_size", batch_size, 1)
        self.generator = generator.eval()
        for p in self.generator.parameters():
            p.requires_grad_(False)
        self.latent_dim = generator.latent_dim
        self.L, self.R, self.lr, self.momentum, self.decay = L, R, lr, momentum, decay
        self.seed, self.batch_size, self.progress = seed, batch_size, progress

    @property
    def device(self) -> torch.device:
        """Where the generator is, and so where reconstruction runs."""
        return next(self.generator.parameters()).device

    @property
    def image_shape(self) -> tuple[int, ...]:
        """C x H x W of the images the generator makes."""
        return self.generator.image_shape

    def __call__(self, images: torch.Tensor) -> Purified:
        """Purify `images` (N x 1 x H x W in [0, 1]) in chunks of `batch_size` images."""
        return purify_in_chunks(self.reconstruct, images, batch_size=self.batch_size, device=self.device,
                                desc="Defense-GAN", show_progress=self.progress)

    def start_points(self, n: int, first_index: int = 0) -> torch.Tensor:
        """The R random starts of images first_index..first_index+n-1, (n R) x latent_dim, image-major.
        One torch.Generator per image, seeded by (seed, image index): independent of batching."""
        gens = [torch.Generator(self.device).manual_seed(self.seed * 1_000_003 + first_index + i) for i in range(n)]
        return torch.cat([torch.randn((self.R, self.latent_dim), generator=g, device=self.device) for g in gens])

    def reconstruct(self, target: torch.Tensor, first_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Defense-GAN's projection for a batch of images: (G(z*) clamped to [0, 1], its per-image MSE)."""
        n, R = len(target), self.R
        z = self.start_points(n, first_index)
        targets = target.repeat_interleave(R, 0)
        velocity = torch.zeros_like(z)
        decay_every = math.ceil(0.8 * self.L)
        for i in range(self.L):
            z.requires_grad_(True)
            mse = (self.generator(z) - targets).pow(2).flatten(1).mean(1)
            grad, = torch.autograd.grad(mse.sum(), z)
            with torch.no_grad():
                velocity = self.momentum * velocity + grad
                z = z.detach() - self.lr * self.decay ** (i // decay_every) * velocity
        with torch.no_grad():
            x_r = self.generator(z)
            mse = (x_r - targets).pow(2).flatten(1).mean(1)
        best = mse.view(n, R).argmin(1)
        rows = torch.arange(n, device=self.device) * R + best
        return x_r[rows].clamp(0, 1), mse[rows]
