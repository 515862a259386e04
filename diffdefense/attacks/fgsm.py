"""FGSM (Goodfellow et al., 2015), L-inf, via torchattacks."""

import torchattacks

from ..settings import EPS, Settings

SETTINGS = Settings("FGSM", eps=EPS)


def build(model, **settings):
    """One signed-gradient step of size eps against `model`."""
    s = SETTINGS.resolve(settings)
    return torchattacks.FGSM(model, eps=s.eps)
