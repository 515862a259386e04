"""FGSM (Goodfellow et al., 2015), L-inf, via torchattacks."""

import torchattacks

from ..errors import check_positive
from . import register


@register("fgsm")
def build(model, eps: float = 0.3):
    """One signed-gradient step of size eps against `model`."""
    check_positive("attack.fgsm.eps", eps, allow_zero=True)
    return torchattacks.FGSM(model, eps=eps)
