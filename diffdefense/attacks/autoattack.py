"""AutoAttack, standard L-inf version (Croce & Hein, 2020): APGD-CE, APGD-T, FAB-T, Square, each run on the
points the previous ones did not break. Built from torchattacks' parts because its AutoAttack class
runs APGD for 10 iterations, not the original's 100."""

import torchattacks

from ..errors import check_number, check_int_range


def build(model, eps: float = 0.3, steps: int = 100, square_queries: int = 5000, n_classes: int = 10, seed: int = 0):
    """Standard AutoAttack (L-inf, radius eps) against `model`, its APGD and FAB parts run for `steps` steps."""
    check_number("eps", eps, 0, 1)
    check_int_range("steps", steps, 1)
    check_int_range("square_queries", square_queries, 1)
    common = dict(norm="Linf", eps=eps, n_restarts=1, seed=seed)
    return torchattacks.MultiAttack([
        torchattacks.APGD(model, steps=steps, loss="ce", **common),
        torchattacks.APGDT(model, steps=steps, n_classes=n_classes, **common),
        torchattacks.FAB(model, steps=steps, multi_targeted=True, n_classes=n_classes, **common),
        torchattacks.Square(model, n_queries=square_queries, **common),
    ])
