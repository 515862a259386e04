"""DiffPure-style purification (Nie et al., 2022) with the pipeline's DDPM: diffuse the input forward to
step t* with fresh noise, then run the ancestral reverse process back to step 0. No optimisation: one
reverse chain of t* U-Net calls per image, which shows how much robustness the diffusion model gives on
its own, without DiffDefense's search over z_T. `precision` is the U-Net's float type when nothing
differentiates the chain (diffdefense.precision); a full-gradient attack runs it in fp32."""

from __future__ import annotations

from pathlib import Path

import torch

from ..diffusion import LinearSchedule
from ..models import load_ddpm
from ..precision import PRECISIONS, FrozenForward, resolve_precision
from ..settings import SEED, Int, OneOf, Setting, Settings
from .base import Defence, reconstruction_error


class DiffPure(Defence):
    """DiffPure-style purification as a defence (settings below); batch_size: images per U-Net call."""

    differentiable = True
    randomised = True
    weights = ("ddpm.safetensors",)
    networks = ("unet", "schedule")
    settings = Settings(
        t_star=Setting(Int(1, "timesteps"), 30, "diffusion steps, forward then back (at most train_ddpm.timesteps)"),
        precision=Setting(OneOf(PRECISIONS), "auto", "the U-Net's float type (auto: bf16 where the hardware has "
                          "units for it)", optional=True),
        seed=Setting(SEED, 0, "per-image noise seeds"),
    )

    def __init__(self, unet: torch.nn.Module, schedule: LinearSchedule, **settings):
        super().__init__(unet, bounds={"timesteps": schedule.num_steps}, **settings)
        self.schedule = schedule
        self.frozen = FrozenForward(self.network, resolve_precision("precision", self.precision, self.device))

    @classmethod
    def load(cls, models_dir: Path, device: torch.device, **settings) -> "DiffPure":
        """DiffPure on the pipeline's DDPM."""
        return cls(*load_ddpm(Path(models_dir) / cls.weights[0], device), **settings)

    def reconstruct(self, x: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward-diffuse to step index t*-1, then reverse to 0, with noise from one generator per
        image. Returns the purified images and their per-image MSE to `x`."""
        gens = self.generators(len(x), first_index)

        def draw():
            return torch.stack([torch.randn(x.shape[1:], generator=g, device=self.device) for g in gens])

        unet = self.network if keep_graph else self.frozen
        with torch.set_grad_enabled(keep_graph):
            last = self.t_star - 1
            z = self.schedule.q_sample(x, torch.full((len(x),), last, device=self.device), draw())
            for k in reversed(range(self.t_star)):
                z = self.schedule.ancestral_step(z, unet(z, torch.tensor(k, device=self.device)), k, draw())
            out = z.clamp(0, 1)
            return out, reconstruction_error(out, x)
