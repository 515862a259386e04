"""DiffPure-style purification (Nie et al., 2022) with the pipeline's DDPM: diffuse the input forward to
step t* with fresh noise, then run the ancestral reverse process back to step 0. No optimisation: one
reverse chain of t* U-Net calls per image, which shows how much robustness the diffusion model gives on
its own, without DiffDefense's search over z_T."""

from __future__ import annotations

import torch

from ..diffusion import LinearSchedule
from ..errors import check_int_range
from .base import Purified, purify_in_chunks


class DiffPure:
    """DiffPure-style purification as a defence. t_star: diffusion steps (forward, then back);
    seed: per-image noise seeds; batch_size: images per U-Net call."""

    def __init__(self, unet: torch.nn.Module, schedule: LinearSchedule, *, t_star: int = 30, seed: int = 0,
                 batch_size: int = 64, progress: bool = False):
        check_int_range("defend.diffpure.t_star", t_star, 1, schedule.num_steps)
        check_int_range("defend.batch_size", batch_size, 1)
        self.unet, self.schedule = unet.eval(), schedule
        for p in self.unet.parameters():
            p.requires_grad_(False)
        self.t_star, self.seed, self.batch_size, self.progress = t_star, seed, batch_size, progress

    @property
    def device(self) -> torch.device:
        """Where the U-Net is, and so where reconstruction runs."""
        return next(self.unet.parameters()).device

    @property
    def image_shape(self) -> tuple[int, ...]:
        """C x H x W of the images the U-Net takes."""
        return self.unet.image_shape

    def __call__(self, images: torch.Tensor) -> Purified:
        """Purify `images` (N x 1 x H x W in [0, 1]) in chunks of `batch_size` images."""
        return purify_in_chunks(self.reconstruct, images, batch_size=self.batch_size, device=self.device,
                                desc="DiffPure", show_progress=self.progress)

    def purify_with_graph(self, images: torch.Tensor) -> Purified:
        """The same purification, differentiable with respect to `images` through the U-Net calls."""
        out, err = self.reconstruct(images.to(self.device), keep_graph=True)
        return Purified(out, err.detach())

    def reconstruct(self, x: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward-diffuse to step index t*-1, then reverse to 0; noise from one generator per image
        (seeded by seed and image index), so results do not depend on batching. Returns the purified
        images and their per-image MSE to `x`."""
        with torch.set_grad_enabled(keep_graph):
            out = self._purify(x, first_index)
            return out, (out - x).pow(2).flatten(1).mean(1)

    def _purify(self, x: torch.Tensor, first_index: int) -> torch.Tensor:
        gens = [torch.Generator(self.device).manual_seed(self.seed * 1_000_003 + first_index + i) for i in range(len(x))]

        def draw():
            return torch.stack([torch.randn(x.shape[1:], generator=g, device=self.device) for g in gens])

        last = self.t_star - 1
        z = self.schedule.q_sample(x, torch.full((len(x),), last, device=self.device), draw())
        for k in reversed(range(self.t_star)):
            z = self.schedule.ancestral_step(z, self.unet(z, torch.tensor(k, device=self.device)), k, draw())
        return z.clamp(0, 1)
