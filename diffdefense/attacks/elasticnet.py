"""Elastic-net attack, EAD (Chen et al., 2018): L1 + L2 regularised, not L-inf bounded; ART's defaults."""

from art.attacks.evasion import ElasticNet

from ..errors import check_int_range, check_positive
from . import register
from .art_bridge import art_classifier, run_art


@register("elasticnet")
def build(model, confidence: float = 0.0, learning_rate: float = 0.01, binary_search_steps: int = 9,
          max_iter: int = 100, beta: float = 0.001, initial_const: float = 0.001, batch_size: int = 128):
    check_positive("attack.elasticnet.confidence", confidence, allow_zero=True)
    check_positive("attack.elasticnet.learning_rate", learning_rate)
    check_int_range("attack.elasticnet.binary_search_steps", binary_search_steps, 1)
    check_int_range("attack.elasticnet.max_iter", max_iter, 1)
    check_positive("attack.elasticnet.beta", beta, allow_zero=True)
    check_positive("attack.elasticnet.initial_const", initial_const)
    check_int_range("attack.elasticnet.batch_size", batch_size, 1)
    attack = ElasticNet(art_classifier(model), confidence=confidence, learning_rate=learning_rate,
                        binary_search_steps=binary_search_steps, max_iter=max_iter, beta=beta,
                        initial_const=initial_const, batch_size=batch_size, verbose=False)
    return lambda images, labels: run_art(attack, images, labels)
