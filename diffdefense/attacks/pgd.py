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

from ..errors import check_number, check_int_range, check_positive


def build(model, eps: float = 0.3, step: float = 0.01, steps: int = 20, restarts: int = 5):
    """L-inf PGD against `model`: radius eps, `steps` steps of size `step`, `restarts` random starts."""
    check_number("eps", eps, 0, 1)
    check_positive("step", step)
    check_int_range("steps", steps, 1)
    check_int_range("restarts", restarts, 1)
    one_start = torchattacks.PGD(model, eps=eps, alpha=step, steps=steps, random_start=True)

    def attack(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        best = images.clone()
        best_loss = torch.full((len(images),), -float("inf"), device=images.device)
        todo, yields = torch.arange(len(images), device=images.device), []
        for _ in range(restarts):
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
