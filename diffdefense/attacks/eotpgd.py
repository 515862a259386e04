"""EOT+PGD (Athalye et al., 2018; Zimmermann, 2019): PGD on gradients averaged over EOT samples, via torchattacks."""

import torchattacks

from ..errors import check_number, check_int_range, check_positive


def build(model, eps: float = 0.3, step: float = 2 / 255, steps: int = 20, eot_samples: int = 10):
    """EOT+PGD against `model`: L-inf radius eps, `steps` steps of size `step`, `eot_samples` gradients per step."""
    check_number("eps", eps, 0, 1)
    check_positive("step", step)
    check_int_range("steps", steps, 1)
    check_int_range("eot_samples", eot_samples, 1)
    return torchattacks.EOTPGD(model, eps=eps, alpha=step, steps=steps, eot_iter=eot_samples, random_start=True)
