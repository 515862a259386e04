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
    along a cosine (constant if `final_step` is None). Each restart starts uniformly in the eps-ball.

    What comes back per image: the first iterate that ends a restart fooling the model under **one** fresh
    draw of the defence (the success check; a randomised defence may classify it right under other
    draws, which is why callers score it under fresh draws); for an image never fooled so, the iterate with
    the highest cross-entropy averaged over its EOT draws (the attack's own objective), across every step
    and restart, the final iterates included. With `fixed_seed` every draw (attack and check) uses that
    seed: the attack on a defence whose seed is fixed and known. Returns adversarial images in [0, 1]
    within eps of `images`."""
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
    best = images.clone()
    best_loss = torch.full((len(images),), -float("inf"), device=images.device)
    fooled = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    draw = 0
    desc = f"{'BPDA' if model.gradient == 'bpda' else 'full-gradient'}+EOT PGD"

    def next_seed() -> int:
        nonlocal draw
        draw += 1
        return derived_seed(seed, draw - 1) if fixed_seed is None else fixed_seed

    def eot_loss(x: torch.Tensor, with_gradient: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-image cross-entropy at `x` averaged over `eot_samples` fresh draws, and its gradient."""
        loss, grad = torch.zeros(len(x)), torch.zeros_like(x) if with_gradient else None
        for _ in range(eot_samples):
            model.redraw(next_seed())

            def batch(first: int) -> tuple[torch.Tensor, torch.Tensor | None]:
                x_in = x[first:first + batch_size].clone().requires_grad_(with_gradient)
                with torch.set_grad_enabled(with_gradient):
                    per_image = F.cross_entropy(model(x_in), labels[first:first + batch_size], reduction="none")
                if not with_gradient:
                    return per_image.cpu(), None
                # zero where the output does not depend on the input (DiffDefense with L = 1 returns
                # G(z_0) of the best random start: only the non-differentiable choice sees the image)
                g = torch.autograd.grad(per_image.sum(), x_in, materialize_grads=True)[0]
                return per_image.detach().cpu(), g.cpu()

            # under torchrun each process takes every N-th batch (diffdefense.sharding)
            parts = map_chunks(batch, range(0, len(x), batch_size))
            loss += torch.cat([p[0] for p in parts])
            if with_gradient:
                grad += torch.cat([p[1] for p in parts]).to(grad.device)
        return (loss / eot_samples).to(x.device), grad

    def keep_if_better(x: torch.Tensor, loss: torch.Tensor) -> None:
        better = ~fooled & (loss > best_loss)
        best[better], best_loss[better] = x[better], loss[better]

    for _ in range(restarts):
        start = (torch.rand(images.shape, generator=generator) * 2 - 1).to(images.device)
        x = (images + start * eps).clamp(0, 1)
        for size in progress(sizes, desc=desc, unit="step", disable=not progress_bar):
            loss, grad = eot_loss(x, with_gradient=True)
            keep_if_better(x, loss)
            x = torch.min(torch.max(x + size * grad.sign(), images - eps), images + eps).clamp(0, 1).detach()
        keep_if_better(x, eot_loss(x, with_gradient=False)[0])
        model.redraw(next_seed())
        with torch.no_grad():
            success = (model(x).argmax(1) != labels) & ~fooled
        best[success], fooled = x[success], fooled | success
    return best


def evaluation_images(images: torch.Tensor, labels: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` test images of the seeded permutation (data.seed) that also draws the clean set:
    whatever data.test_size is, the first test_size of these are the clean set's images (in another order)."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    return images[order], labels[order]


RULES = ("one", "worst", "majority")  # ways of scoring a randomised defence over its draws
WITHOUT_LAST_DRAW = "worst_without_last_draw"  # the worst case over every draw but the last: what the last adds


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
        every_but_last = every.clone()
        for i, seed in enumerate(seeds[1:], 1):
            if i == len(seeds) - 1:
                every_but_last = every.clone()
            if len(alive) == 0:
                break
            model.redraw(seed)
            right = correct(model, images[alive], labels[alive])
            votes[alive] += right
            every[alive] &= right
        robust["one"] &= first_draw[name]
        robust["worst"] &= every
        robust[WITHOUT_LAST_DRAW] &= every_but_last
        robust["majority"] &= votes * 2 > len(seeds)
    return first_draw, robust
