"""PGD (Madry et al., 2018), L-inf with random restarts, via torchattacks.

Each restart runs only on images not fooled yet (as torchattacks' MultiAttack and ART's num_random_init);
an image keeps the first restart's result that fools the model, and an image no restart fooled keeps the
result with the highest cross-entropy across restarts (PGD's own objective), not the clean image that
MultiAttack returns for it. `attack.yields["fooled_by_restart"]` counts, after a call, the images first
fooled by each restart: what the last restarts still found.
"""

import torch
import torch.nn.functional as F
import torchattacks

from ..settings import EPS, POSITIVE, POSITIVE_INT, Setting, Settings

SETTINGS = Settings(
    "PGD with restarts",
    eps=EPS,
    step=Setting(POSITIVE, 0.01, "step size"),
    steps=Setting(POSITIVE_INT, 20, "steps per restart"),
    restarts=Setting(POSITIVE_INT, 5, "random starts (each only on images not fooled yet)"),
)


def build(model, **settings):
    """L-inf PGD against `model`: radius eps, `steps` steps of size `step`, `restarts` random starts."""
    s = SETTINGS.resolve(settings)
    one_start = torchattacks.PGD(model, eps=s.eps, alpha=s.step, steps=s.steps, random_start=True)

    def attack(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        best = images.clone()
        best_loss = torch.full((len(images),), -float("inf"), device=images.device)
        todo, yields = torch.arange(len(images), device=images.device), []
        for _ in range(s.restarts):
            if len(todo) == 0:
                yields.append(0)
                continue
            x = one_start(images[todo], labels[todo])
            with torch.no_grad():
                logits = model(x)
            fooled = logits.argmax(1) != labels[todo]
            loss = F.cross_entropy(logits, labels[todo], reduction="none")
            keep = fooled | (loss > best_loss[todo])
            best[todo[keep]], best_loss[todo[keep]] = x[keep], loss[keep]
            yields.append(int(fooled.sum()))
            todo = todo[~fooled]
        attack.yields = {"fooled_by_restart": yields}
        return best

    attack.yields = {}
    return attack
