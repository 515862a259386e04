"""The authors' small noise-prediction U-Net (well under a million parameters).

Three levels down (10 -> 20 -> 40 channels) and three up, a three-block bottleneck, each block
LayerNorm -> 3x3 conv -> SiLU, and a sinusoidal time embedding mapped by a
per-level Linear-SiLU-Linear and added to every level's input. Images are padded to the next multiple
of 8 by a 1x1 conv and cropped back by a final valid conv (for the authors' 28 x 28: padded to 32 x 32,
cropped by a 5 x 5 conv). Any C x H x W works; the shape is part of the saved config (save_ddpm).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_table(num_steps: int, dim: int) -> torch.Tensor:
    """Transformer-style sinusoidal embeddings of the step indices 0..num_steps-1 (num_steps x dim)."""
    position = torch.arange(num_steps, dtype=torch.float32)[:, None]
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    table = torch.zeros(num_steps, dim)
    table[:, 0::2] = torch.sin(position * freqs)
    table[:, 1::2] = torch.cos(position * freqs)
    return table


class Block(nn.Module):
    """LayerNorm (over C x H x W, as in the authors' code) -> 3x3 conv -> SiLU."""

    def __init__(self, channels_in: int, channels_out: int, size: tuple[int, int]):
        super().__init__()
        self.norm = nn.LayerNorm([channels_in, *size])
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x):
        """The block applied to feature maps x (N x channels_in x size x size)."""
        return self.act(self.conv(self.norm(x)))


def _stage(channels: list[int], size: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(*(Block(c_in, c_out, size) for c_in, c_out in zip(channels[:-1], channels[1:])))


def _time_mlp(dim: int, channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, channels), nn.SiLU(), nn.Linear(channels, channels))


class UNet(nn.Module):
    """eps_theta(x_t, t) for C x H x W images (`image_shape`); `t` holds integer step indices in
    [0, max_steps), one per image (shape N) or one for the whole batch (a 0-d tensor: the time MLPs then
    run once, not N times)."""

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), max_steps: int = 1000,
                 time_dim: int = 100):
        super().__init__()
        channels, height, width = self.image_shape = tuple(image_shape)
        self.max_steps = max_steps
        self.register_buffer("time_table", sinusoidal_table(max_steps, time_dim), persistent=False)
        padded = [math.ceil(n / 8) * 8 for n in (height, width)]  # three halvings need a multiple of 8
        extra = [p - n for p, n in zip(padded, (height, width))]
        # the authors' 1x1 conv pads evenly; an odd remainder goes to the bottom and right (F.pad in forward)
        self.odd_pad = (0, extra[1] % 2, 0, extra[0] % 2)
        self.pad_in = nn.Conv2d(channels, channels, 1, padding=(extra[0] // 2, extra[1] // 2))
        sizes = [(padded[0] >> level, padded[1] >> level) for level in range(4)]
        self.te1, self.down_block1 = _time_mlp(time_dim, channels), _stage([channels, 10, 10, 10], sizes[0])
        self.down1 = nn.Conv2d(10, 10, 4, 2, 1)
        self.te2, self.down_block2 = _time_mlp(time_dim, 10), _stage([10, 20, 20, 20], sizes[1])
        self.down2 = nn.Conv2d(20, 20, 4, 2, 1)
        self.te3, self.down_block3 = _time_mlp(time_dim, 20), _stage([20, 40, 40, 40], sizes[2])
        self.down3 = nn.Conv2d(40, 40, 4, 2, 1)
        self.te_mid, self.mid_block = _time_mlp(time_dim, 40), _stage([40, 20, 20, 40], sizes[3])
        self.up1 = nn.ConvTranspose2d(40, 40, 4, 2, 1)
        self.te4, self.up_block1 = _time_mlp(time_dim, 80), _stage([80, 40, 20, 20], sizes[2])
        self.up2 = nn.ConvTranspose2d(20, 20, 4, 2, 1)
        self.te5, self.up_block2 = _time_mlp(time_dim, 40), _stage([40, 20, 10, 10], sizes[1])
        self.up3 = nn.ConvTranspose2d(10, 10, 4, 2, 1)
        self.te_out, self.up_block3 = _time_mlp(time_dim, 20), _stage([20, 10, 10, 10], sizes[0])
        self.conv_out = nn.Conv2d(10, channels, (extra[0] + 1, extra[1] + 1))  # valid conv: back to H x W

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted noise eps_theta(x_t, t), the shape of x."""
        emb = self.time_table[t]
        padded = self.pad_in(nn.functional.pad(x, self.odd_pad) if any(self.odd_pad) else x)
        h1 = self.down_block1(_add_time(padded, self.te1(emb)))
        h2 = self.down_block2(_add_time(self.down1(h1), self.te2(emb)))
        h3 = self.down_block3(_add_time(self.down2(h2), self.te3(emb)))
        mid = self.mid_block(_add_time(self.down3(h3), self.te_mid(emb)))
        u1 = self.up_block1(_add_time(torch.cat([h3, self.up1(mid)], 1), self.te4(emb)))
        u2 = self.up_block2(_add_time(torch.cat([h2, self.up2(u1)], 1), self.te5(emb)))
        u3 = self.up_block3(_add_time(torch.cat([h1, self.up3(u2)], 1), self.te_out(emb)))
        return self.conv_out(u3)


def _add_time(h: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
    """Add per-channel time features (N x C, or C for a step shared by the batch) to feature maps."""
    if time_features.dim() == 1:
        return h + time_features[None, :, None, None]
    return h + time_features[:, :, None, None]
