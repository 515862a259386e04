"""Adaptive attacks through a defence (Athalye et al., 2018; Tramer et al., 2020), and robust accuracy
as RobustBench/AutoAttack report it: a point counts as robust only if no attack in the ensemble fools it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .attacks.binarize_pgd import step_sizes
from .defended import DefendedClassifier
from .errors import check_int_range, check_positive
from .evaluation import correct
from .progress import progress
from .seeding import derived_seed
from .sharding import map_chunks


def eot_pgd(model: DefendedClassifier, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
            step: float = 0.05, final_step: float | None = None, steps: int = 20, eot_samples: int = 4,
            restarts: int = 1, seed: int = 0, batch_size: int = 10, fixed_seed: int | None = None,
            progress_bar: bool = False) -> torch.Tensor:
    """L-inf PGD on `model` (defence then classifier), its gradient averaged over `eot_samples` draws of
    the defence's randomness per step (EOT). The gradient is the model's own: BPDA or full, as set by
    `model.gradient`. Gradients are taken `batch_size` images at a time, which bounds memory (a full
    gradient through DiffDefense keeps the graph of every U-Net call); under torchrun the batches are
    shared among the processes, with the same result. The step size falls from `step` to `final_step`
    along a cosine (constant if `final_step` is None). Each restart starts uniformly
    in the eps-ball; an image keeps the first adversarial example that fools the model under a fresh
    draw. With `fixed_seed` every draw (attack and final check) uses that seed: the attack on a
    defence whose seed is fixed and known. Returns adversarial images in [0, 1] within eps of `images`."""
    check_positive("eps", eps)
    check_positive("step", step)
    check_int_range("steps", steps, 1)
    check_int_range("eot_samples", eot_samples, 1)
    check_int_range("restarts", restarts, 1)
    check_int_range("batch_size", batch_size, 1)
    if final_step is not None:
        check_positive("final_step", final_step)
    sizes = step_sizes(step, step if final_step is None else final_step, steps)
    generator = torch.Generator().manual_seed(seed)
    best, fooled = images.clone(), torch.zeros(len(images), dtype=torch.bool, device=images.device)
    draw = 0
    desc = f"{'BPDA' if model.gradient == 'bpda' else 'full-gradient'}+EOT PGD"
    for _ in range(restarts):
        start = (torch.rand(images.shape, generator=generator) * 2 - 1).to(images.device)
        x = (images + start * eps).clamp(0, 1)
        for size in progress(sizes, desc=desc, unit="step", disable=not progress_bar):
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
            x = torch.min(torch.max(x + size * grad.sign(), images - eps), images + eps).clamp(0, 1).detach()
        model.redraw(derived_seed(seed, draw) if fixed_seed is None else fixed_seed)
        draw += 1
        with torch.no_grad():
            success = model(x).argmax(1) != labels
        new = success & ~fooled
        best[new], fooled = x[new], fooled | success
    return best


def evaluation_images(images: torch.Tensor, labels: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` test images of the seeded permutation (data.seed) that also draws the clean set:
    whatever data.test_size is, the first test_size of these are the clean set's images (in another order)."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    return images[order], labels[order]


RULES = ("one", "worst", "majority")  # ways of scoring a randomised defence over its draws


def robust_over_draws(model: DefendedClassifier, sets: dict[str, torch.Tensor], labels: torch.Tensor,
                      seeds: list[int]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Each set of images (same labels) scored under independent draws of the defence's randomness (one per
    seed), as the randomised-defence literature scores final adversarial images. Returns, per set, the
    correctness under the first draw; and, per image, robustness over all sets by each rule: correct on every
    set under the first draw ("one"), under every draw ("worst"), under most draws ("majority"). Draws after
    the first are spent only on images that can still be robust by majority (the worst case implies it)."""
    first_draw, robust = {}, {rule: torch.ones(len(labels), dtype=torch.bool) for rule in RULES}
    for name, images in sets.items():
        model.redraw(seeds[0])
        first_draw[name] = correct(model, images, labels)
        votes, every = first_draw[name].long(), first_draw[name].clone()
        alive = robust["majority"].nonzero().squeeze(1)
        for seed in seeds[1:]:
            if len(alive) == 0:
                break
            model.redraw(seed)
            right = correct(model, images[alive], labels[alive])
            votes[alive] += right
            every[alive] &= right
        robust["one"] &= first_draw[name]
        robust["worst"] &= every
        robust["majority"] &= votes * 2 > len(seeds)
    return first_draw, robust
