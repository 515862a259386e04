"""EOT+PGD (Athalye et al., 2018; Zimmermann, 2019): PGD on gradients averaged over EOT samples, via torchattacks."""

import torchattacks

from ..settings import EPS, POSITIVE, POSITIVE_INT, Setting, Settings

SETTINGS = Settings(
    "EOT+PGD",
    eps=EPS,
    step=Setting(POSITIVE, 0.00784, "step size (torchattacks' 2/255, rounded)"),
    steps=Setting(POSITIVE_INT, 20, "PGD steps"),
    eot_samples=Setting(POSITIVE_INT, 10, "gradients averaged per step"),
)


def build(model, **settings):
    """EOT+PGD against `model`: L-inf radius eps, `steps` steps of size `step`, `eot_samples` gradients per step."""
    s = SETTINGS.resolve(settings)
    return torchattacks.EOTPGD(model, eps=s.eps, alpha=s.step, steps=s.steps, eot_iter=s.eot_samples, random_start=True)
