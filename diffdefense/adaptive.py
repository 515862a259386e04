"""Adaptive attacks through a defence (Athalye et al., 2018; Tramer et al., 2020), and robust accuracy
as RobustBench/AutoAttack report it: a point counts as robust only if no attack in the ensemble fools it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .defended import DefendedClassifier
from .errors import check_int_range, check_positive
from .evaluation import correct
from .progress import progress
from .seeding import derived_seed
from .sharding import map_chunks


def eot_pgd(model: DefendedClassifier, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
            step: float = 0.05, steps: int = 20, eot_samples: int = 4, restarts: int = 1, seed: int = 0,
            batch_size: int = 10, fixed_seed: int | None = None, progress_bar: bool = False) -> torch.Tensor:
    """L-inf PGD on `model` (defence then classifier), its gradient averaged over `eot_samples` draws of
    the defence's randomness per step (EOT). The gradient is the model's own: BPDA or full, as set by
    `model.gradient`. Gradients are taken `batch_size` images at a time, which bounds memory (a full
    gradient through DiffDefense keeps the graph of every U-Net call); under torchrun the batches are
    shared among the processes, with the same result. Each restart starts uniformly
    in the eps-ball; an image keeps the first adversarial example that fools the model under a fresh
    draw. With `fixed_seed` every draw (attack and final check) uses that seed: the attack on a
    defence whose seed is fixed and known. Returns adversarial images in [0, 1] within eps of `images`."""
    check_positive("eps", eps)
    check_positive("step", step)
    check_int_range("steps", steps, 1)
    check_int_range("eot_samples", eot_samples, 1)
    check_int_range("restarts", restarts, 1)
    check_int_range("batch_size", batch_size, 1)
    generator = torch.Generator().manual_seed(seed)
    best, fooled = images.clone(), torch.zeros(len(images), dtype=torch.bool, device=images.device)
    draw = 0
    desc = f"{'BPDA' if model.gradient == 'bpda' else 'full-gradient'}+EOT PGD"
    for _ in range(restarts):
        start = (torch.rand(images.shape, generator=generator) * 2 - 1).to(images.device)
        x = (images + start * eps).clamp(0, 1)
        for _ in progress(range(steps), desc=desc, unit="step", disable=not progress_bar):
            grad = torch.zeros_like(x)
            for _ in range(eot_samples):
                model.redraw(derived_seed(seed, draw) if fixed_seed is None else fixed_seed)
                draw += 1

                def batch_gradient(first: int) -> torch.Tensor:
                    x_in = x[first:first + batch_size].clone().requires_grad_(True)
                    loss = F.cross_entropy(model(x_in), labels[first:first + batch_size], reduction="sum")
                    # zero where the output does not depend on the input (DiffDefense with L = 1 returns
                    # G(z_0) of the best random start: only the non-differentiable choice sees the image)
                    return torch.autograd.grad(loss, x_in, materialize_grads=True)[0].cpu()

                # under torchrun each process takes every N-th batch (diffdefense.sharding)
                grad += torch.cat(map_chunks(batch_gradient, range(0, len(x), batch_size))).to(grad.device)
            x = torch.min(torch.max(x + step * grad.sign(), images - eps), images + eps).clamp(0, 1).detach()
        model.redraw(derived_seed(seed, draw) if fixed_seed is None else fixed_seed)
        draw += 1
        with torch.no_grad():
            success = model(x).argmax(1) != labels
        new = success & ~fooled
        best[new], fooled = x[new], fooled | success
    return best


def robust_correct(correct: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per point, whether every attack in `correct` (name -> bool per point) leaves it correct."""
    return torch.stack([c.bool() for c in correct.values()]).all(0)


def correct_over_draws(model: DefendedClassifier, images: torch.Tensor, labels: torch.Tensor,
                       seeds: list[int]) -> dict[str, torch.Tensor]:
    """Per image, scored over independent draws of the defence's randomness (one per seed), as the
    randomised-defence literature scores a final adversarial image: correct under every draw
    ("worst"), under most draws ("majority"), and under the first draw alone ("one")."""
    per_draw = []
    for seed in seeds:
        model.redraw(seed)
        per_draw.append(correct(model, images, labels))
    stacked = torch.stack(per_draw)
    return {"one": stacked[0], "worst": stacked.all(0), "majority": stacked.sum(0) * 2 > len(seeds)}
