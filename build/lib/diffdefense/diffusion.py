"""The diffusion schedule and its forward/reverse steps, separate from the noise-prediction network.

Step indices are 0-based: index k holds beta_{k+1}; the network is called with the index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LinearSchedule:
    """Linear betas from `beta_start` to `beta_end` over `num_steps` steps (Ho et al., 2020)."""

    num_steps: int
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        self.betas = torch.linspace(self.beta_start, self.beta_end, self.num_steps, dtype=torch.float64)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)
        # alpha-bar before each step (1 before the first).
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Diffuse clean images `x0` to step indices `t` (forward process)."""
        abar = self.alphas_cumprod.to(x0.device, x0.dtype)[t].view(-1, 1, 1, 1)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def training_loss(self, model, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Epsilon-prediction MSE at uniformly drawn steps."""
        t = torch.randint(0, self.num_steps, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        return F.mse_loss(model(self.q_sample(x0, t, noise), t), noise)

    def ancestral_step(self, z: torch.Tensor, eps: torch.Tensor, k: int, noise: torch.Tensor) -> torch.Tensor:
        """DDPM reverse step (the paper's Eq. 2): z_{k-1} = (z_k - beta/sqrt(1-abar) eps)/sqrt(alpha) + sigma n."""
        beta, alpha, abar = float(self.betas[k]), float(self.alphas[k]), float(self.alphas_cumprod[k])
        mean = (z - beta / (1 - abar) ** 0.5 * eps) / alpha ** 0.5
        return mean + beta ** 0.5 * noise if k > 0 else mean

    def ddim_step(self, z: torch.Tensor, eps: torch.Tensor, k: int, noise: torch.Tensor, eta: float = 1.0) -> torch.Tensor:
        """DDIM reverse step (Song et al., 2020) with stochasticity eta (eta=1 is what the authors' code adds)."""
        abar, abar_prev = float(self.alphas_cumprod[k]), float(self.alphas_cumprod_prev[k])
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)) ** 0.5
        x0_pred = (z - (1 - abar) ** 0.5 * eps) / abar ** 0.5
        return abar_prev ** 0.5 * x0_pred + (1 - abar_prev - sigma ** 2) ** 0.5 * eps + sigma * noise
