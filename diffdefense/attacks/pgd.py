"""PGD (Madry et al., 2018), L-inf with random restarts, via torchattacks.

Restarts keep, per image, the first restart that fools the model (as ART's num_random_init does);
torchattacks' MultiAttack runs each restart only on images still classified correctly.
"""

import torchattacks

from ..errors import check_number, check_int_range, check_positive


def build(model, eps: float = 0.3, step: float = 0.01, steps: int = 20, restarts: int = 5):
    """L-inf PGD against `model`: radius eps, `steps` steps of size `step`, `restarts` random starts."""
    check_number("eps", eps, 0, 1)
    check_positive("step", step)
    check_int_range("steps", steps, 1)
    check_int_range("restarts", restarts, 1)
    runs = [torchattacks.PGD(model, eps=eps, alpha=step, steps=steps, random_start=True) for _ in range(restarts)]
    return runs[0] if restarts == 1 else torchattacks.MultiAttack(runs)
