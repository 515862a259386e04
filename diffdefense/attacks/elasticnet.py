"""Elastic-net attack, EAD (Chen et al., 2018): L1 + L2 regularised, not L-inf bounded.
torchattacks' EADEN with the same defaults as ART's ElasticNet (the reference setting): ART's
implementation measured ~5 s per image here, torchattacks' ~0.36 s.
"""

import torchattacks

from ..settings import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Int, Setting, Settings

SETTINGS = Settings(
    "EAD, elastic-net decision rule (ART's names and defaults)",
    confidence=Setting(NON_NEGATIVE, 0.0, "margin kappa"),
    learning_rate=Setting(POSITIVE, 0.01, "step size"),
    binary_search_steps=Setting(POSITIVE_INT, 9, "binary search steps over the constant"),
    max_iter=Setting(Int(10), 100, "iterations per search step (EADEN divides by max_iter // 10)"),
    beta=Setting(NON_NEGATIVE, 0.001, "L1 weight"),
    initial_const=Setting(POSITIVE, 0.001, "initial trade-off constant"),
)


def build(model, **settings):
    """EAD with elastic-net decision rule against `model` (ART's parameter names)."""
    s = SETTINGS.resolve(settings)
    attack = torchattacks.EADEN(model, kappa=s.confidence, lr=s.learning_rate, binary_search_steps=s.binary_search_steps,
                                max_iterations=s.max_iter, beta=s.beta, initial_const=s.initial_const)
    # EADEN's result can leave [0, 1] by a few thousandths (seen: -0.006); images must stay valid.
    return lambda images, labels: attack(images, labels).clamp(0, 1)
