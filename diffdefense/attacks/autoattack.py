"""AutoAttack, standard L-inf version (Croce & Hein, 2020): APGD-CE, APGD-T, FAB-T, Square, each run on the
points the previous ones did not break. Built from torchattacks' parts because its AutoAttack class
runs APGD for 10 iterations, not the original's 100."""

import torchattacks

from ..settings import EPS, Int, POSITIVE_INT, SEED, Setting, Settings

SETTINGS = Settings(
    "AutoAttack (standard, L-inf)",
    eps=EPS,
    steps=Setting(POSITIVE_INT, 100, "iterations of APGD-CE, APGD-T and FAB-T"),
    square_queries=Setting(POSITIVE_INT, 5000, "Square's queries"),
    n_classes=Setting(Int(2), 10, "classes (APGD-T and FAB-T target the others)"),
    seed=Setting(SEED, 0, "seed of every part"),
)


def build(model, **settings):
    """Standard AutoAttack (L-inf, radius eps) against `model`, its APGD and FAB parts run for `steps` steps."""
    s = SETTINGS.resolve(settings)
    common = dict(norm="Linf", eps=s.eps, n_restarts=1, seed=s.seed)
    return torchattacks.MultiAttack([
        torchattacks.APGD(model, steps=s.steps, loss="ce", **common),
        torchattacks.APGDT(model, steps=s.steps, n_classes=s.n_classes, **common),
        torchattacks.FAB(model, steps=s.steps, multi_targeted=True, n_classes=s.n_classes, **common),
        torchattacks.Square(model, n_queries=s.square_queries, **common),
    ])
