"""Generators and critics for C x H x W images in [0, 1] (MNIST's 1 x 28 x 28 by default), for Defense-GAN
(Samangouei et al., 2018), in two architectures (param train_gan.architecture):

"dcgan", a small DCGAN sized for CPU:
Generator: z -> Linear -> 2w x H/4 x W/4 -> BN, ReLU -> ConvT 4x4 s2 -> w x H/2 x W/2 -> BN, ReLU
-> ConvT 4x4 s2 -> C x H x W -> sigmoid (sizes rounded up to a multiple of 4, then cropped).
Critic: conv 4x4 s2 (w) -> LeakyReLU -> conv 4x4 s2 (2w) -> LeakyReLU -> Linear -> one logit/score,
with no batch norm so it serves both the DCGAN loss and WGAN-GP (whose gradient penalty is per sample).

"original", the authors' MNIST networks (kabkabm/defensegan, models/dataset_models.py, with NET_DIM = w = 64
and USE_BN false in experiments/cfgs/gans/default.yml), no batch norm:
Generator: z -> Linear -> 4w x 4 x 4 -> ReLU -> ConvT 5x5 s2 -> 2w x 8 x 8, cropped to 7 x 7 -> ReLU
-> ConvT 5x5 s2 -> w x 14 x 14 -> ReLU -> ConvT 5x5 s2 -> C x 28 x 28 -> sigmoid.
Critic: conv 5x5 s2 (w) -> conv 5x5 s2 (2w) -> conv 5x5 s2 (4w), each with LeakyReLU 0.2 -> Linear -> score.
Convolutions pad as TensorFlow's 'SAME' does (each stride-2 layer halves or doubles the size); other sizes
than 28 x 28 start from ceil(H/8) x ceil(W/8). Initialisation is PyTorch's default, not tflib's He init.

Sized for CPU: Defense-GAN runs the generator forward and backward L x R times per image (2000
times at the original L = 200, R = 10), so the generator's cost sets the defence's speed. With the
default width w = 32 a forward pass of the DCGAN is about 2.0 M multiply-accumulates per sample (linear
0.4 M, first transposed conv 1.6 M, last 0.05 M); w = 64 costs about 7.0 M and measured 3-4.5x slower
both to train and to reconstruct with on CPU (see diffdefense/gan_training.py). The original generator
(1.55 M weights at w = 64) costs about 24 M (linear 0.5 M, transposed convs 13.1 M, 10.0 M and 0.3 M),
some 12x the default DCGAN.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError, check_int_range, check_one_of
from ..io import load_tensors
from . import load_weights, save_weights


class Generator(nn.Module):
    """G(z): latent vectors (N x latent_dim) to images (N x C x H x W in [0, 1]); see the module docstring."""

    architecture = "dcgan"

    def __init__(self, latent_dim: int = 128, width: int = 32, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        check_int_range("latent_dim", latent_dim, 1)
        check_int_range("width", width, 1)
        channels, height, image_width = self.image_shape = tuple(image_shape)
        self.latent_dim, self.width = latent_dim, width
        self.base = (math.ceil(height / 4), math.ceil(image_width / 4))  # 7 x 7 for 28 x 28
        cells = 2 * width * self.base[0] * self.base[1]
        self.fc = nn.Sequential(nn.Linear(latent_dim, cells, bias=False), nn.BatchNorm1d(cells), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),  # 14 -> 28
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents z."""
        images = self.net(self.fc(z).view(len(z), 2 * self.width, *self.base))
        return images[:, :, :self.image_shape[1], :self.image_shape[2]]


class Critic(nn.Module):
    """Discriminator (DCGAN: a logit) or critic (WGAN-GP: an unbounded score), one value per image."""

    def __init__(self, width: int = 32, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        check_int_range("width", width, 1)
        channels, height, image_width = image_shape
        h, w = ((((n - 2) // 2 + 1) - 2) // 2 + 1 for n in (height, image_width))  # two 4x4 s2 p1 convs
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 14 -> 7
            nn.Flatten(), nn.Linear(2 * width * h * w, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit (DCGAN) or score (WGAN-GP) per image."""
        return self.net(x).squeeze(1)


def _up(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """5x5 stride-2 transposed convolution doubling the size, as TensorFlow's 'SAME' padding does."""
    return nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2, padding=2, output_padding=1)


class OriginalGenerator(nn.Module):
    """The authors' MNIST generator (module docstring): same interface as `Generator`."""

    architecture = "original"

    def __init__(self, latent_dim: int = 128, width: int = 64, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        check_int_range("latent_dim", latent_dim, 1)
        check_int_range("width", width, 1)
        channels, height, image_width = self.image_shape = tuple(image_shape)
        self.latent_dim, self.width = latent_dim, width
        self.base = (math.ceil(height / 8), math.ceil(image_width / 8))  # 4 x 4 for 28 x 28
        self.quarter = (math.ceil(height / 4), math.ceil(image_width / 4))  # the crop to 7 x 7
        self.fc = nn.Sequential(nn.Linear(latent_dim, 4 * width * self.base[0] * self.base[1]), nn.ReLU())
        self.first = nn.Sequential(_up(4 * width, 2 * width), nn.ReLU())
        self.rest = nn.Sequential(_up(2 * width, width), nn.ReLU(), _up(width, channels), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents z."""
        x = self.first(self.fc(z).view(len(z), 4 * self.width, *self.base))
        images = self.rest(x[:, :, :self.quarter[0], :self.quarter[1]])
        return images[:, :, :self.image_shape[1], :self.image_shape[2]]


class OriginalCritic(nn.Module):
    """The authors' MNIST critic (module docstring): one score per image."""

    def __init__(self, width: int = 64, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        check_int_range("width", width, 1)
        channels, height, image_width = image_shape
        cells = math.ceil(height / 8) * math.ceil(image_width / 8)  # three halvings, rounded up: 28 -> 4
        layers = []
        for n_in, n_out in ((channels, width), (width, 2 * width), (2 * width, 4 * width)):
            layers += [nn.Conv2d(n_in, n_out, 5, stride=2, padding=2), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * width * cells, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One score per image."""
        return self.net(x).squeeze(1)


ARCHITECTURES = {"dcgan": (Generator, Critic), "original": (OriginalGenerator, OriginalCritic)}


def build_gan(architecture: str, latent_dim: int, width: int,
              image_shape: tuple[int, int, int] = (1, 28, 28)) -> tuple[nn.Module, nn.Module]:
    """A generator and its critic of `architecture` ("dcgan" or "original"), untrained."""
    check_one_of("architecture", architecture, ARCHITECTURES)
    generator_class, critic_class = ARCHITECTURES[architecture]
    return generator_class(latent_dim, width, image_shape), critic_class(width, image_shape)


def save_generator(generator: nn.Module, path: str | Path) -> None:
    """Save the generator's weights with the architecture, latent size and width needed to rebuild it."""
    save_weights(generator, path, {"architecture": generator.architecture, "latent_dim": generator.latent_dim,
                                   "width": generator.width})


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Load a generator saved by `save_generator`, in eval mode (files from before the architecture was
    recorded hold a DCGAN)."""
    _, meta = load_tensors(path, "train_gan")
    if "latent_dim" not in meta or "width" not in meta:
        raise UsageError(f"{path} has no latent_dim/width metadata; it was not written by train_gan")
    architecture = meta.get("architecture", "dcgan")
    if architecture not in ARCHITECTURES:
        raise UsageError(f"{path} holds a generator of architecture {architecture!r}; this code builds "
                         f"{list(ARCHITECTURES)}")
    generator = ARCHITECTURES[architecture][0](meta["latent_dim"], meta["width"],
                                               tuple(meta.get("image_shape", (1, 28, 28))))
    return load_weights(generator, path, made_by="train_gan").to(device)
