"""Defense-GAN (Samangouei et al., 2018): project each image onto the range of a trained generator G.

For each image x, R starts z_0 ~ N(0, I / d), d the latent size (as in the authors' code: near G's
centre, std sqrt(1/d), not from its N(0, I) prior), take L steps of gradient descent with momentum on
||G(z) - x||^2 (the per-image mean squared error, summed over the batch so the step size does not
depend on how many images are reconstructed together). As in the authors' code: TensorFlow-style
momentum (v <- m v + grad, z <- z - eta v) with m = 0.7 and eta = lr (10) times `decay` once per
ceil(0.8 L) steps (a staircase). The authors' code sets up decay 0.1 that way
(`exponential_decay(rec_lr, rec_iter_const, ceil(0.8 L), 0.1, staircase=True)` in models/gan.py of
kabkabm/defensegan), but the counter it reads is never incremented, so their projection runs at a
constant lr 10: decay 1.0 here (profiles/paper.yaml); decay 0.1 is the schedule as written (one drop at
80% of the iterations). After the L updates the start with the lowest MSE is kept; the defence returns
G(z*) clamped to [0, 1] and that MSE as the reconstruction error. All R starts of `batch_size` images go
through the generator in one call; the generator is frozen and in eval mode, so each image's result does
not depend on its batch.

Cost, measured with the width-32 DCGAN generator (diffdefense/models/gan.py) on one CPU core, 8 images in
a batch: ~0.67 s/image at L = 200, R = 10 and ~0.084 s/image at L = 25, R = 10 (the paper's Table 3,
on a GPU: 0.675 and 0.086); with the original architecture ~3.4 s/image at L = 200, R = 10 (one busy
core, extrapolated from L = 20).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..models.gan import load_generator
from ..settings import POSITIVE, POSITIVE_INT, SEED, Num, Setting, Settings
from .base import Defence


class DefenceGAN(Defence):
    """Defense-GAN as a defence: `defence(images)` returns G(z*) for the best of R starts and its MSE
    (settings below; the step schedule in the module docstring); batch_size: images per generator call."""

    randomised = True
    weights = ("gan.safetensors",)
    networks = ("generator",)
    settings = Settings(
        L=Setting(POSITIVE_INT, 200, "gradient steps on ||G(z) - x||^2 per start"),
        R=Setting(POSITIVE_INT, 10, "random starts per image"),
        lr=Setting(POSITIVE, 10.0, "step size"),
        momentum=Setting(Num(0, 1, open_high=True), 0.7, "momentum (TensorFlow-style)"),
        decay=Setting(POSITIVE, 0.1, "step size factor after ceil(0.8 L) steps (1.0: constant, as the authors' code runs)"),
        seed=Setting(SEED, 0, "per-image seeds of the starts"),
    )

    def __init__(self, generator: nn.Module, **settings):
        super().__init__(generator, **settings)
        self.latent_dim = generator.latent_dim

    @classmethod
    def load(cls, models_dir: Path, device: torch.device, **settings) -> "DefenceGAN":
        """Defense-GAN on the pipeline's generator."""
        return cls(load_generator(Path(models_dir) / cls.weights[0], device), **settings)

    def start_points(self, n: int, first_index: int = 0) -> torch.Tensor:
        """The R random starts of images first_index..first_index+n-1, (n R) x latent_dim, image-major,
        drawn from N(0, I / latent_dim) (see the module docstring)."""
        return torch.cat([torch.randn((self.R, self.latent_dim), generator=g, device=self.device)
                          for g in self.generators(n, first_index)]) * self.latent_dim ** -0.5

    def reconstruct(self, target: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Defense-GAN's projection for a batch of images: (G(z*) clamped to [0, 1], its per-image MSE)."""
        n, R = len(target), self.R
        z = self.start_points(n, first_index)
        targets = target.repeat_interleave(R, 0)
        velocity = torch.zeros_like(z)
        decay_every = math.ceil(0.8 * self.L)
        for i in range(self.L):
            z.requires_grad_(True)
            mse = (self.network(z) - targets).pow(2).flatten(1).mean(1)
            grad, = torch.autograd.grad(mse.sum(), z)
            with torch.no_grad():
                velocity = self.momentum * velocity + grad
                z = z.detach() - self.lr * self.decay ** (i // decay_every) * velocity
        with torch.no_grad():
            x_r = self.network(z)
            mse = (x_r - targets).pow(2).flatten(1).mean(1)
        best = mse.view(n, R).argmin(1)
        rows = torch.arange(n, device=self.device) * R + best
        return x_r[rows].clamp(0, 1), mse[rows]
