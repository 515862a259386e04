"""PGD through a differentiable relaxation of thresholding at 0.5: the exact adaptive attack on the
`binarize` defence, and a cheap surrogate for purifiers suspected of acting like it (BPDA's surrogate idea,
Athalye et al., 2018; Tramer et al., 2020). It never calls a defence: the classifier sees
sigmoid((x - threshold) / tau), whose temperature tau is annealed geometrically towards a step, and each
step checks the classifier on the hard-thresholded input. An image keeps the first iterate that fools
the thresholded input; restarts run only on images not fooled yet. An image never fooled gets, across
restarts, the final iterate with the highest loss at the final temperature (the attack's own objective;
still a transfer candidate for other defences). After a call, `attack.yields` counts the images first
fooled by each restart ("fooled_by_restart") and in each tenth of the steps ("fooled_by_step_tenth"):
what the last restarts and steps still found.
"""

import math

import torch
import torch.nn.functional as F

from ..settings import EPS, FRACTION, POSITIVE, POSITIVE_INT, SEED, Setting, Settings

SETTINGS = Settings(
    "PGD through a soft threshold",
    eps=EPS,
    step=Setting(POSITIVE, 0.1, "first step size"),
    final_step=Setting(POSITIVE, 0.01, "last step size (cosine decay)"),
    steps=Setting(POSITIVE_INT, 100, "steps per restart"),
    restarts=Setting(POSITIVE_INT, 8, "random starts (each only on images not fooled yet)"),
    threshold=Setting(FRACTION, 0.5, "the threshold relaxed"),
    temperature=Setting(POSITIVE, 0.1, "first sigmoid temperature"),
    final_temperature=Setting(POSITIVE, 0.005, "last sigmoid temperature (geometric decay)"),
    seed=Setting(SEED, 0, "seed of the random starts"),
)


def step_sizes(first: float, last: float, steps: int) -> list[float]:
    """`steps` step sizes falling from `first` to `last` along a half cosine (as APGD's decaying steps)."""
    return [last + (first - last) * 0.5 * (1 + math.cos(math.pi * t / max(steps - 1, 1))) for t in range(steps)]


def build(model, **settings):
    """L-inf PGD of radius eps against `model` behind thresholding at `threshold`: `steps` signed steps
    whose size falls from `step` to `final_step` (cosine), temperature from `temperature` to
    `final_temperature`, `restarts` uniform random starts (seeded by `seed`)."""
    s = SETTINGS.resolve(settings)
    eps, steps, restarts, threshold, seed = s.eps, s.steps, s.restarts, s.threshold, s.seed
    temperature, final_temperature = s.temperature, s.final_temperature
    sizes = step_sizes(s.step, s.final_step, steps)
    temperatures = [temperature * (final_temperature / temperature) ** (t / max(steps - 1, 1)) for t in range(steps)]

    def fooled(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model((x > threshold).to(x.dtype)).argmax(1) != labels

    def attack(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        best, done = images.clone(), fooled(images, labels)
        best_loss = torch.full((len(images),), -float("inf"), device=images.device)
        by_restart, by_tenth = [], [0] * 10
        for _ in range(restarts):
            todo = (~done).nonzero().squeeze(1)
            if len(todo) == 0:
                by_restart.append(0)
                continue
            clean, y = images[todo], labels[todo]
            x = (clean + eps * (torch.rand(clean.shape, generator=generator) * 2 - 1).to(clean.device)).clamp(0, 1)
            found = torch.zeros(len(todo), dtype=torch.bool, device=images.device)
            for t, (size, tau) in enumerate(zip(sizes, temperatures)):
                x.requires_grad_(True)
                loss = F.cross_entropy(model(torch.sigmoid((x - threshold) / tau)), y, reduction="sum")
                grad, = torch.autograd.grad(loss, x)
                x = torch.min(torch.max(x.detach() + size * grad.sign(), clean - eps), clean + eps).clamp(0, 1)
                new = fooled(x, y) & ~found
                best[todo[new]], found = x[new], found | new
                by_tenth[t * 10 // steps] += int(new.sum())
            with torch.no_grad():
                final_loss = F.cross_entropy(model(torch.sigmoid((x - threshold) / temperatures[-1])), y,
                                             reduction="none")
            keep = ~found & (final_loss > best_loss[todo])
            best[todo[keep]], best_loss[todo[keep]] = x[keep], final_loss[keep]
            done[todo[found]] = True
            by_restart.append(int(found.sum()))
        attack.yields = {"fooled_by_restart": by_restart, "fooled_by_step_tenth": by_tenth}
        return best

    attack.yields = {}
    return attack
