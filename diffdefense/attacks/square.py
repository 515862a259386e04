"""Square Attack (Andriushchenko et al., 2020): score-based black-box random search, ART's implementation."""

import numpy as np

from ..settings import EPS, POSITIVE, POSITIVE_INT, Setting, Settings
from .art_bridge import art_classifier, run_art

SETTINGS = Settings(
    "Square Attack (ART's defaults)",
    eps=EPS,
    max_iter=Setting(POSITIVE_INT, 100, "queries per restart"),
    p_init=Setting(POSITIVE, 0.8, "initial fraction of pixels changed per square"),
    restarts=Setting(POSITIVE_INT, 1, "random restarts"),
    batch_size=Setting(POSITIVE_INT, 128, "images per query batch"),
)


def build(model, **settings):
    """Square Attack (L-inf, radius eps) against `model`, `max_iter` queries per restart."""
    s = SETTINGS.resolve(settings)
    from art.attacks.evasion import SquareAttack  # ART takes seconds to import: only stages that use it pay

    attack = SquareAttack(art_classifier(model), norm=np.inf, eps=s.eps, max_iter=s.max_iter, p_init=s.p_init,
                          nb_restarts=s.restarts, batch_size=s.batch_size, verbose=False)
    return lambda images, labels: run_art(attack, images, labels)
