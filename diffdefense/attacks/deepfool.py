"""DeepFool (Moosavi-Dezfooli et al., 2016), ART's implementation with its default settings.

torchattacks' DeepFool stops early and leaves much accuracy (see REFERENCE-NOTES), so ART is used.
"""

from art.attacks.evasion import DeepFool

from ..errors import check_int_range, check_positive
from . import register
from .art_bridge import art_classifier, run_art


@register("deepfool")
def build(model, max_iter: int = 100, epsilon: float = 1e-6, nb_grads: int = 10, batch_size: int = 128):
    check_int_range("attack.deepfool.max_iter", max_iter, 1)
    check_positive("attack.deepfool.epsilon", epsilon, allow_zero=True)
    check_int_range("attack.deepfool.nb_grads", nb_grads, 1)
    check_int_range("attack.deepfool.batch_size", batch_size, 1)
    attack = DeepFool(art_classifier(model), max_iter=max_iter, epsilon=epsilon, nb_grads=nb_grads,
                      batch_size=batch_size, verbose=False)
    return lambda images, labels: run_art(attack, images, labels)
