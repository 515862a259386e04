"""Adaptive attacks through a defence (Athalye et al., 2018; Tramer et al., 2020), and robust accuracy
as RobustBench/AutoAttack report it: a point counts as robust only if no attack in the ensemble fools it."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .attacks.binarize_pgd import step_sizes
from .defended import DefendedClassifier
from .errors import check_positive
from .evaluation import correct
from .progress import progress
from .seeding import derived_seed
from .settings import EPS, POSITIVE, POSITIVE_INT, SEED, Setting, Settings
from .sharding import map_chunks

EOT_PGD = Settings(  # params.yaml adaptive.attack
    "BPDA/full-gradient + EOT PGD through a defence",
    eps=EPS,
    step=Setting(POSITIVE, 0.1, "first step size"),
    final_step=Setting(POSITIVE, 0.01, "last step size (cosine decay; null: constant)", optional=True,
                       nullable=True),
    steps=Setting(POSITIVE_INT, 40, "steps per restart"),
    eot_samples=Setting(POSITIVE_INT, 4, "draws of the defence averaged per gradient"),
    restarts=Setting(POSITIVE_INT, 1, "random starts in the eps-ball"),
    seed=Setting(SEED, 0, "seed of the starts and of the defence's draws"),
    batch_size=Setting(POSITIVE_INT, 20, "images per gradient (bounds memory)"),
)


def eot_pgd(model: DefendedClassifier, images: torch.Tensor, labels: torch.Tensor, *, fixed_seed: int | None = None,
            detector_threshold: float | None = None, progress_bar: bool = False, **settings) -> torch.Tensor:
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
    seed: the attack on a defence whose seed is fixed and known.

    With `detector_threshold` the attack is detector-aware (the defence's reconstruction error above it
    flags the input as attacked): per image and draw it ascends the cross-entropy where the error is at or
    below the threshold and descends the error where it is above (selective gradient descent, Bryniarski et
    al., 2021), its objective being the cross-entropy where undetected and -error/threshold (below any
    undetected value) where detected; success needs the check draw fooled and undetected. Returns
    adversarial images in [0, 1] within eps of `images`."""
    s = EOT_PGD.resolve(settings)
    eps, step, final_step, steps, eot_samples, restarts, seed, batch_size = (
        s.eps, s.step, s.final_step, s.steps, s.eot_samples, s.restarts, s.seed, s.batch_size)
    if detector_threshold is not None:
        check_positive("detector_threshold", detector_threshold)
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
                    logits, error = model.forward_with_error(x_in)
                    per_image = F.cross_entropy(logits, labels[first:first + batch_size], reduction="none")
                    if detector_threshold is not None:
                        per_image = torch.where(error <= detector_threshold, per_image, -error / detector_threshold)
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
            if detector_threshold is not None:
                success &= model.last_recon_error.to(success.device) <= detector_threshold
        best[success], fooled = x[success], fooled | success
    return best


def evaluation_images(images: torch.Tensor, labels: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` test images of the seeded permutation (data.seed) that also draws the clean set:
    whatever data.test_size is, the first test_size of these are the clean set's images (in another order)."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    return images[order], labels[order]


RULES = ("one", "worst", "majority")  # ways of scoring a randomised defence over its draws


class DrawScores(NamedTuple):
    """What `robust_over_draws` measures."""

    first_draw: dict[str, torch.Tensor]  # per set: correct under the first draw
    robust: dict[str, torch.Tensor]  # per rule: correct on every set under that rule
    recon_error: dict[str, torch.Tensor]  # per set: the first draw's per-image reconstruction error
    decided_by_last_draw: torch.Tensor  # per image: robust under every draw but the last, not under the last


def first_draw_scores(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                      batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, whether `model` classifies it right, and the reconstruction error of the call (zeros for a
    model that keeps none), `batch_size` images at a time: one call each, so the error is that batch's."""
    right, errors = [], []
    for i in range(0, len(images), batch_size):
        right.append(correct(model, images[i:i + batch_size], labels[i:i + batch_size], batch_size=batch_size))
        error = getattr(model, "last_recon_error", None)
        errors.append(torch.zeros(len(right[-1])) if error is None else error.float().cpu())
    return torch.cat(right), torch.cat(errors)


def robust_over_draws(model: nn.Module, sets: dict[str, torch.Tensor], labels: torch.Tensor,
                      seeds: list[int]) -> DrawScores:
    """Each set of images (same labels) scored under independent draws of the defence's randomness (one per
    seed), as the randomised-defence literature scores final adversarial images: per set, the correctness
    and reconstruction error under the first draw; and, per image, robustness over all sets by each rule:
    correct on every set under the first draw ("one"), under every draw ("worst"), under most draws
    ("majority"). Draws after the first are spent only on images that can still be robust by majority (the
    worst case implies it)."""
    first_draw, errors = {}, {}
    robust = {rule: torch.ones(len(labels), dtype=torch.bool) for rule in RULES}
    worst_before_last = torch.ones(len(labels), dtype=torch.bool)
    for name, images in sets.items():
        model.redraw(seeds[0])
        first_draw[name], errors[name] = first_draw_scores(model, images, labels)
        votes, every = first_draw[name].long(), first_draw[name].clone()
        alive = robust["majority"].nonzero().squeeze(1)
        before_last = every.clone()
        for i, seed in enumerate(seeds[1:], 1):
            if i == len(seeds) - 1:
                before_last = every.clone()
            if len(alive) == 0:
                break
            model.redraw(seed)
            right = correct(model, images[alive], labels[alive])
            votes[alive] += right
            every[alive] &= right
        robust["one"] &= first_draw[name]
        robust["worst"] &= every
        worst_before_last &= before_last
        robust["majority"] &= votes * 2 > len(seeds)
    return DrawScores(first_draw, robust, errors, worst_before_last & ~robust["worst"])
