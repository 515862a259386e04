"""Square Attack (Andriushchenko et al., 2020): score-based black-box random search, ART's implementation."""

import numpy as np

from ..errors import check_number, check_int_range, check_positive
from .art_bridge import art_classifier, run_art


def build(model, eps: float = 0.3, max_iter: int = 100, p_init: float = 0.8, restarts: int = 1,
          batch_size: int = 128):
    """Square Attack (L-inf, radius eps) against `model`, `max_iter` queries per restart."""
    check_number("eps", eps, 0, 1)
    check_int_range("max_iter", max_iter, 1)
    check_positive("p_init", p_init)
    check_int_range("restarts", restarts, 1)
    check_int_range("batch_size", batch_size, 1)
    from art.attacks.evasion import SquareAttack  # ART takes seconds to import: only stages that use it pay

    attack = SquareAttack(art_classifier(model), norm=np.inf, eps=eps, max_iter=max_iter, p_init=p_init,
                          nb_restarts=restarts, batch_size=batch_size, verbose=False)
    return lambda images, labels: run_art(attack, images, labels)
