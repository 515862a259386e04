"""FGSM (Goodfellow et al., 2015), L-inf, via torchattacks."""

import torchattacks

from ..errors import check_number


def build(model, eps: float = 0.3):
    """One signed-gradient step of size eps against `model`."""
    check_number("eps", eps, 0, 1)
    return torchattacks.FGSM(model, eps=eps)
