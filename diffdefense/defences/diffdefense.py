"""DiffDefense (Algorithm 1): optimise the reverse process's starting noise z_T until the generated
image matches the input, for many images at once, and keep the best of R starts per image.

Two variants of the reverse process:
- "code" (the authors' public code): the schedule is rebuilt with T* steps and betas 1e-4..0.02,
  DDIM steps (eta = 1), a sigmoid on the output (`output="clamp"` clips instead, an ablation), the
  U-Net held under no_grad so the gradient reaches z_T only through the step coefficients;
  Adam(0.5, 0.999) with lr 0.02 at the first step and lr_restart * decay**(i / ceil(0.8 L)) after.
  The rebuilt schedule's noise levels are not the trained ones at the same indices (with the default DDPM,
  its last alpha-bar, 0.859, is the trained schedule's near index 38, not 14): `code_schedule="trained"`
  sub-samples the trained schedule instead (diffusion.SubsampledSchedule), the U-Net then seeing the noise
  levels and indices it was trained for.
- "paper" (Eq. 2 and Algorithm 1): ancestral DDPM steps T*..1 of the trained schedule, the
  gradient flows through the U-Net, plain gradient descent with eta_i = eta_{i-1} decay**(1/ceil(0.8 L)).
`precision` ("auto", "fp32", "bf16"; diffdefense.precision) is the code variant's frozen U-Net's float type;
the paper variant and full-gradient attacks, which differentiate through the U-Net, run it in fp32.
`denoiser="none"` replaces the U-Net's noise prediction by zeros in either (an ablation: how much of the
robustness the diffusion model itself gives).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..diffusion import LinearSchedule, SubsampledSchedule
from ..models import load_ddpm
from ..precision import PRECISIONS, FrozenForward, resolve_precision
from ..settings import POSITIVE, POSITIVE_INT, SEED, Int, OneOf, Setting, Settings
from .base import Defence

VARIANTS = ("code", "paper")
DENOISERS = ("unet", "none")  # none: the U-Net's noise prediction replaced by zeros (an ablation)
OUTPUTS = ("sigmoid", "clamp")  # the code variant's output; clamp is an ablation of the sigmoid
SCHEDULES = ("rebuilt", "trained")  # the code variant's schedule: the authors' rebuilt one, or the trained one


class Adam:
    """torch.optim.Adam's update for one tensor, written out of place so that a full-gradient attack
    can differentiate through it (torch.optim updates parameters in place)."""

    def __init__(self, betas: tuple[float, float], eps: float = 1e-8):
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self.m = self.v = 0.0
        self.steps = 0

    def step(self, z: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
        """z after one Adam step along `grad` with learning rate `lr`."""
        self.steps += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        denom = self.v.sqrt() / math.sqrt(1 - self.beta2 ** self.steps) + self.eps
        return z - lr / (1 - self.beta1 ** self.steps) * self.m / denom


class DiffDefense(Defence):
    """Algorithm 1 as a defence: `defence(images)` returns the best of R reconstructions per image and its MSE.

    Settings below (the step-size schedule in the module docstring); batch_size: images reconstructed
    together (bounds peak memory). The defaults are the pipeline's (params.yaml defend.diffdefense)."""

    differentiable = True
    randomised = True
    weights = ("ddpm.safetensors",)
    networks = ("unet", "schedule")
    settings = Settings(
        variant=Setting(OneOf(VARIANTS), "code", "code: the authors' DDIM + sigmoid, frozen U-Net; paper: Eq. 2 "
                        "ancestral steps, full gradient"),
        L=Setting(POSITIVE_INT, 4, "gradient iterations on z_T"),
        R=Setting(POSITIVE_INT, 5, "random starts per image"),
        t_star=Setting(Int(1, "timesteps"), 15, "reverse-process steps T* (at most train_ddpm.timesteps)"),
        lr=Setting(POSITIVE, 0.02, "first step size"),
        lr_restart=Setting(POSITIVE, 25.0, "code variant: Adam's lr after the first step, decayed"),
        decay=Setting(POSITIVE, 0.1, "step size factor Delta over ceil(0.8 L) steps"),
        code_beta_start=Setting(POSITIVE, 1e-4, "code variant: first beta of the rebuilt T*-step schedule",
                                optional=True),
        code_beta_end=Setting(POSITIVE, 0.02, "code variant: last beta of the rebuilt schedule", optional=True),
        denoiser=Setting(OneOf(DENOISERS), "unet", "none: the U-Net's noise prediction replaced by zeros (an "
                         "ablation)", optional=True),
        output=Setting(OneOf(OUTPUTS), "sigmoid", "code variant's output; clamp is an ablation", optional=True),
        code_schedule=Setting(OneOf(SCHEDULES), "rebuilt", "code variant: rebuilt (the authors': T* steps of betas "
                         "code_beta_start..code_beta_end, the U-Net told indices 0..T*-1) or trained (the DDPM's "
                         "schedule sub-sampled to T* steps: the noise levels and indices it was trained for)",
                         optional=True),
        precision=Setting(OneOf(PRECISIONS), "auto", "the frozen U-Net's float type (auto: bf16 where the hardware "
                          "has units for it); gradients stay fp32", optional=True),
        seed=Setting(SEED, 0, "per-image noise seeds"),
    )

    def __init__(self, unet: torch.nn.Module, trained_schedule: LinearSchedule, **settings):
        super().__init__(unet, bounds={"timesteps": trained_schedule.num_steps}, **settings)
        # channels-last convolutions measured ~10-15% faster on CPU for this small U-Net (on the defence's copy)
        self.network = self.network.to(memory_format=torch.channels_last)
        self.frozen = FrozenForward(self.network, resolve_precision("precision", self.precision, self.device))
        if self.variant == "paper":
            self.schedule = trained_schedule
        elif self.code_schedule == "trained":
            self.schedule = SubsampledSchedule(trained_schedule, self.t_star)
        else:
            self.schedule = LinearSchedule(self.t_star, self.code_beta_start, self.code_beta_end)

    @classmethod
    def load(cls, models_dir: Path, device: torch.device, **settings) -> "DiffDefense":
        """DiffDefense on the pipeline's DDPM."""
        return cls(*load_ddpm(Path(models_dir) / cls.weights[0], device), **settings)

    def reconstruct(self, target: torch.Tensor, first_index: int = 0,
                    keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Algorithm 1 for a batch of images, with one random generator per image. With `keep_graph` the
        returned images stay differentiable with respect to `target`."""
        n, R = len(target), self.R
        gens = self.generators(n, first_index)
        shape = (R,) + tuple(target.shape[1:])

        def draw():  # one N(0, I) sample per start, image by image
            return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in gens]).flatten(0, 1)

        z = draw().requires_grad_(True)
        targets = target.repeat_interleave(R, 0)
        adam = Adam(betas=(0.5, 0.999)) if self.variant == "code" else None
        for i in range(self.L):
            # The defence's own gradient is taken with respect to `start`; with keep_graph the U-Net is
            # fed the trajectory of z, a different autograd node with the same values (twin_reverse).
            start = z.clone() if keep_graph else z
            x_r = self.generate(start, draw, twin=z if keep_graph else None)
            mse = (x_r - targets).pow(2).flatten(1).mean(1)
            if i == self.L - 1:
                break  # the last update could not change the returned reconstruction
            grad, = torch.autograd.grad(mse.sum(), start, create_graph=keep_graph)
            z = self.descend(z, grad, i, adam)
            if not keep_graph:
                z = z.detach().requires_grad_(True)
        best = mse.detach().view(n, R).argmin(1)
        rows = torch.arange(n, device=self.device) * R + best
        x_r = x_r if keep_graph else x_r.detach()
        return x_r[rows].clamp(0, 1), mse.detach()[rows]

    def descend(self, z: torch.Tensor, grad: torch.Tensor, i: int, adam: Adam | None) -> torch.Tensor:
        """z after update i along `grad`: Adam (code variant; lr, then lr_restart decayed) or plain gradient
        descent with the paper's decaying rate."""
        rate_decay = self.decay ** (1 / math.ceil(0.8 * self.L))
        if adam is not None:
            return adam.step(z, grad, self.lr if i == 0 else self.lr_restart * rate_decay ** i)
        return z - self.lr * rate_decay ** (i + 1) * grad

    def generate(self, z: torch.Tensor, draw_noise, twin: torch.Tensor | None = None) -> torch.Tensor:
        """Run the reverse process from z_T = z, differentiable in z, along one of three gradient paths:
        the paper's (paper_reverse), the authors' code's frozen U-Net (frozen_reverse), or, given `twin`,
        the frozen path for z with the U-Net differentiable through twin (twin_reverse, for full-gradient
        attacks). The code variant ends in the sigmoid (or the clamp ablation)."""
        if self.variant == "paper":
            return self.paper_reverse(z, draw_noise)
        z = self.frozen_reverse(z, draw_noise) if twin is None else self.twin_reverse(z, twin, draw_noise)
        return torch.sigmoid(z) if self.output == "sigmoid" else z.clamp(0, 1)

    def reverse_steps(self):
        """(schedule index k, the U-Net's time step as a tensor) for each reverse step, T*-1 down to 0; one
        time step for the whole batch, so the U-Net's time MLPs run once per step."""
        for k in reversed(range(self.t_star)):
            yield k, torch.tensor(self.schedule.network_step(k), device=self.device)

    def paper_reverse(self, z: torch.Tensor, draw_noise) -> torch.Tensor:
        """Eq. 2: ancestral steps of the trained schedule; the gradient flows through the U-Net."""
        for k, t in self.reverse_steps():
            noise = draw_noise()
            z = self.schedule.ancestral_step(z, self.predict_noise(z, t), k, noise)
        return z

    def frozen_reverse(self, z: torch.Tensor, draw_noise) -> torch.Tensor:
        """The authors' code: DDIM steps with the U-Net frozen (fed z detached, in `precision`), so the
        gradient with respect to z reaches it only through the step coefficients."""
        for k, t in self.reverse_steps():
            noise = draw_noise()
            eps = self.predict_noise(z.detach(), t, self.frozen)
            z = self.schedule.ddim_step(z, eps, k, noise)
        return z

    def twin_reverse(self, z: torch.Tensor, twin: torch.Tensor, draw_noise) -> torch.Tensor:
        """frozen_reverse's values and gradient with respect to z, while the U-Net is fed twin's trajectory
        (twin: the same values as z, another autograd node), so gradients with respect to what twin depends
        on (the attacked image) also flow through the U-Net."""
        shadow = twin
        for k, t in self.reverse_steps():
            noise = draw_noise()
            eps = self.predict_noise(shadow, t)
            z = self.schedule.ddim_step(z, eps, k, noise)
            shadow = self.schedule.ddim_step(shadow, eps, k, noise)
        return z

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor, unet=None) -> torch.Tensor:
        """The noise prediction of `unet` (default: the U-Net itself, differentiable), or zeros for the
        `denoiser="none"` ablation (which keeps the reverse process's scaling and fresh noise but removes
        everything the diffusion model learnt)."""
        return (self.network if unet is None else unet)(x, t) if self.denoiser == "unet" else torch.zeros_like(x)
