"""FGSM (Goodfellow et al., 2015), L-inf, via torchattacks."""

import torchattacks

from ..errors import check_number
from . import register


@register("fgsm")
def build(model, eps: float = 0.3):
    """One signed-gradient step of size eps against `model`."""
    check_number("attack.fgsm.eps", eps, 0, 1)
    return torchattacks.FGSM(model, eps=eps)
