"""Elastic-net attack, EAD (Chen et al., 2018): L1 + L2 regularised, not L-inf bounded.

torchattacks' EADEN with the same defaults as ART's ElasticNet (the reference setting): ART's
implementation measured ~5 s per image here, torchattacks' ~0.36 s.
"""

import torchattacks

from ..errors import check_int_range, check_positive


def build(model, confidence: float = 0.0, learning_rate: float = 0.01, binary_search_steps: int = 9,
          max_iter: int = 100, beta: float = 0.001, initial_const: float = 0.001):
    """EAD with elastic-net decision rule against `model` (ART's parameter names)."""
    check_positive("confidence", confidence, allow_zero=True)
    check_positive("learning_rate", learning_rate)
    check_int_range("binary_search_steps", binary_search_steps, 1)
    check_int_range("max_iter", max_iter, 10)  # EADEN divides by max_iter // 10
    check_positive("beta", beta, allow_zero=True)
    check_positive("initial_const", initial_const)
    attack = torchattacks.EADEN(model, kappa=confidence, lr=learning_rate, binary_search_steps=binary_search_steps,
                                max_iterations=max_iter, beta=beta, initial_const=initial_const)
    # EADEN's result can leave [0, 1] by a few thousandths (seen: -0.006); images must stay valid.
    return lambda images, labels: attack(images, labels).clamp(0, 1)
