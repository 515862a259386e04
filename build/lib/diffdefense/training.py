"""Training loops for the classifiers and the DDPM, with progress bars and per-epoch histories."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from .progress import progress

from .diffusion import LinearSchedule
from .evaluation import accuracy


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     test_images: torch.Tensor, test_labels: torch.Tensor, *, epochs: int, lr: float,
                     momentum: float, batch_size: int, seed: int, device: torch.device,
                     perturb=None) -> list[dict]:
    """SGD with momentum on cross-entropy. `perturb(model, x, y)`, if given, replaces each batch by
    adversarial examples made on the fly (adversarial training)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        start, total, seen = time.perf_counter(), 0.0, 0
        bar = progress(_batches(len(images), batch_size, generator), desc=f"epoch {epoch}/{epochs}", unit="batch")
        for idx in bar:
            x, y = images[idx].to(device), labels[idx].to(device)
            if perturb is not None:
                x = perturb(model, x, y)
                model.train()
            loss = F.cross_entropy(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        history.append({"epoch": epoch, "train_loss": total / seen,
                        "test_accuracy": accuracy(model, test_images, test_labels, device=device),
                        "seconds": time.perf_counter() - start})
    return history


def train_ddpm(unet: nn.Module, schedule: LinearSchedule, images: torch.Tensor, *, epochs: int, lr: float,
               batch_size: int, seed: int, device: torch.device) -> list[dict]:
    """Adam on the epsilon-prediction loss (Ho et al., 2020)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    noise_generator = torch.Generator(device).manual_seed(seed + 1)
    unet.to(device).train()
    optimiser = torch.optim.Adam(unet.parameters(), lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        start, total, seen = time.perf_counter(), 0.0, 0
        bar = progress(_batches(len(images), batch_size, generator), desc=f"epoch {epoch}/{epochs}", unit="batch")
        for idx in bar:
            loss = schedule.training_loss(unet, images[idx].to(device), noise_generator)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        history.append({"epoch": epoch, "train_loss": total / seen, "seconds": time.perf_counter() - start})
    return history
