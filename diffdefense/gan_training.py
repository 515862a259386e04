"""Training the Defense-GAN generator: DCGAN (default) or WGAN-GP, with progress bars and per-epoch histories.

Choice: DCGAN. Measured on MNIST, batch 64, latent 128, one CPU thread (the machine's second core was
busy, so 2-thread timings were unreliable; two free cores should be ~1.5x faster):
  DCGAN,   width 32: 9.1 steps/s   -> 938 steps/epoch of 60k in ~105 s (~70 s est. on 2 free cores)
  DCGAN,   width 64: 3.2 steps/s   -> ~300 s/epoch (~200 s est. on 2 cores)
  WGAN-GP, width 32: 8.5 critic steps/s with 5 critic steps per generator step -> 1.7 generator steps/s
So in ~5 minutes DCGAN (width 32) makes ~3 epochs = ~2800 generator steps, WGAN-GP only ~500-800
generator steps, far short of the tens of thousands WGAN-GP is usually trained for on MNIST.
After 450 DCGAN steps samples were digit-like strokes but not yet clear digits; check
plots/gan_samples.png after the full run. WGAN-GP is kept for a GPU (loss "wgan-gp").

- "dcgan": the non-saturating GAN loss (Goodfellow et al., 2014) with Adam(lr 2e-4, betas (0.5, 0.999))
  and one discriminator step per generator step.
- "wgan-gp" (Gulrajani et al., 2017; what the original Defense-GAN trained): critic loss
  E[D(fake)] - E[D(real)] + gp_weight * E[(||grad D(x_hat)|| - 1)^2], `critic_steps` critic steps per
  generator step (Gulrajani et al.: 5, with Adam(1e-4, betas (0.5, 0.9))).

The networks are either architecture of diffdefense/models/gan.py (param train_gan.architecture). WGAN-GP
at batch 50, 5 critic steps per generator step, one busy CPU thread at nice 19 (2026-11-28): the DCGAN of
width 32 0.29 s per generator step, width 64 0.65 s, the original networks (width 64) 2.7 s: the
original's 200 000 generator steps are ~150 CPU hours, a GPU job.

An epoch is one pass of the critic over the training images (shuffled, seeded); for WGAN-GP the
generator takes one step every `critic_steps` critic steps. Everything random comes from seeded
generators, so a run is deterministic given `seed` on one device.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from .errors import check_int_range, check_one_of, check_positive
from .progress import progress
from .models.gan import ARCHITECTURES
from .settings import POSITIVE, POSITIVE_INT, SEED, ListOf, Num, OneOf, Setting, Settings
from .training import POSTFIX_EVERY, RunningMean, _batches

LOSSES = ("dcgan", "wgan-gp")

GAN_RECIPE = Settings(  # params.yaml train_gan
    "Defense-GAN's generator and its training",
    architecture=Setting(OneOf(tuple(ARCHITECTURES)), meaning="dcgan (small, for CPU) or original (the authors')"),
    loss=Setting(OneOf(LOSSES), meaning="dcgan or wgan-gp"),
    epochs=Setting(POSITIVE_INT, meaning="passes over the training split"),
    lr=Setting(POSITIVE, meaning="Adam's learning rate"),
    betas=Setting(ListOf(Num(0, 1, open_high=True), 2), meaning="Adam's betas"),
    batch_size=Setting(POSITIVE_INT, meaning="images per step"),
    latent_dim=Setting(POSITIVE_INT, meaning="size of z"),
    width=Setting(POSITIVE_INT, meaning="channels of the first layer"),
    critic_steps=Setting(POSITIVE_INT, meaning="critic steps per generator step"),
    gp_weight=Setting(Num(0), meaning="gradient-penalty weight (wgan-gp only)"),
    seed=Setting(SEED, meaning="weights' initialisation, batch order and latents"),
)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """E[(||grad_x D(x)||_2 - 1)^2] at random points between real and fake images."""
    eps = torch.rand((len(real), 1, 1, 1), device=real.device, generator=generator)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def train_gan(generator: nn.Module, critic: nn.Module, images: torch.Tensor, *, epochs: int, lr: float,
              batch_size: int, seed: int, device: torch.device, loss: str = "dcgan",
              betas: tuple[float, float] = (0.5, 0.999), critic_steps: int = 1, gp_weight: float = 10.0,
              max_steps: int | None = None, on_epoch=None, on_generator_step=None) -> list[dict]:
    """Train `generator` (z -> images in [0, 1]) against `critic` on `images` (N x 1 x 28 x 28 in [0, 1]).

    Returns one dict per epoch: epoch, generator_loss and critic_loss (means over the epoch's steps),
    critic_steps and generator_steps taken, seconds. `max_steps` stops after that many critic steps in all
    (for timing runs and tests); the epoch it falls in is reported as a partial epoch. `on_epoch(row)`, if
    given, gets each epoch's dict as it ends; `on_generator_step(steps)`, if given, gets the number of
    generator steps taken so far after each one (the generator still in train mode), and training stops
    there, as with `max_steps`, when it returns True (scripts/defensegan_curve.py checkpoints this way).
    """
    check_one_of("train_gan.loss", loss, LOSSES)
    check_int_range("train_gan.epochs", epochs, 1)
    check_int_range("train_gan.batch_size", batch_size, 1)
    check_int_range("train_gan.critic_steps", critic_steps, 1)
    check_positive("train_gan.lr", lr)
    check_positive("train_gan.gp_weight", gp_weight, allow_zero=True)
    torch.manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    noise_generator = torch.Generator(device).manual_seed(seed + 1)
    generator.to(device).train()
    critic.to(device).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    latent_dim = generator.latent_dim
    images = images.to(device)

    def sample(n):
        return generator(torch.randn((n, latent_dim), device=device, generator=noise_generator))

    history, total_steps, total_g_steps, stop = [], 0, 0, False
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        d_mean, g_mean = RunningMean(), RunningMean()
        d_steps = g_steps = 0
        bar = progress(_batches(len(images), batch_size, order_generator), desc=f"epoch {epoch}/{epochs}",
                       unit="batch")
        for idx in bar:
            real = images[idx]
            with torch.no_grad():
                fake = sample(len(real))
            d_real, d_fake = critic(real), critic(fake)
            if loss == "dcgan":
                d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                          + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            else:
                d_loss = d_fake.mean() - d_real.mean()
                if gp_weight > 0:
                    d_loss = d_loss + gp_weight * gradient_penalty(critic, real, fake, noise_generator)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d_mean.add(d_loss)
            d_steps, total_steps = d_steps + 1, total_steps + 1

            if d_steps % critic_steps == 0:
                for p in critic.parameters():
                    p.requires_grad_(False)  # the generator step needs no critic weight gradients
                score = critic(sample(batch_size))
                g_loss = (F.binary_cross_entropy_with_logits(score, torch.ones_like(score)) if loss == "dcgan"
                          else -score.mean())
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                for p in critic.parameters():
                    p.requires_grad_(True)
                g_mean.add(g_loss)
                g_steps, total_g_steps = g_steps + 1, total_g_steps + 1
                stop = on_generator_step is not None and bool(on_generator_step(total_g_steps))
            if d_steps % POSTFIX_EVERY == 1:
                bar.set_postfix(d=f"{d_mean.value:.3f}", g=f"{g_mean.value:.3f}", refresh=False)
            stop = stop or (max_steps is not None and total_steps >= max_steps)
            if stop:
                break
        history.append({"epoch": epoch, "generator_loss": g_mean.value,
                        "critic_loss": d_mean.value, "critic_steps": d_steps, "generator_steps": g_steps,
                        "seconds": time.perf_counter() - start})
        if on_epoch is not None:
            on_epoch(history[-1])
        if stop:
            break
    generator.eval()
    critic.eval()
    return history
