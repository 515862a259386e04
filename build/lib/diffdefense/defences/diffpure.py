"""DiffPure-style purification (Nie et al., 2022) with the pipeline's DDPM: diffuse the input forward to
step t* with fresh noise, then run the ancestral reverse process back to step 0. No optimisation: one
reverse chain of t* U-Net calls per image, which shows how much robustness the diffusion model gives on
its own, without DiffDefense's search over z_T."""

from __future__ import annotations

import torch

from ..diffusion import LinearSchedule
from ..errors import check_int_range
from ..progress import progress
from .base import Purified


class DiffPure:
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
        return next(self.unet.parameters()).device

    def __call__(self, images: torch.Tensor) -> Purified:
        outputs = []
        for start in progress(range(0, len(images), self.batch_size), desc="DiffPure", unit="batch",
                              disable=not self.progress):
            outputs.append(self.purify(images[start:start + self.batch_size].to(self.device), start).cpu())
        out = torch.cat(outputs)
        return Purified(out, (out - images).pow(2).flatten(1).mean(1))

    @torch.no_grad()
    def purify(self, x: torch.Tensor, first_index: int = 0) -> torch.Tensor:
        """Forward-diffuse to step index t*-1, then reverse to 0; noise from one generator per image
        (seeded by seed and image index), so results do not depend on batching."""
        gens = [torch.Generator(self.device).manual_seed(self.seed * 1_000_003 + first_index + i) for i in range(len(x))]

        def draw():
            return torch.stack([torch.randn(x.shape[1:], generator=g, device=self.device) for g in gens])

        last = self.t_star - 1
        z = self.schedule.q_sample(x, torch.full((len(x),), last, device=self.device), draw())
        for k in reversed(range(self.t_star)):
            z = self.schedule.ancestral_step(z, self.unet(z, torch.tensor(k, device=self.device)), k, draw())
        return z.clamp(0, 1)
