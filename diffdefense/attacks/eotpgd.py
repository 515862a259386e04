"""EOT+PGD (Athalye et al., 2018; Zimmermann, 2019): PGD on gradients averaged over EOT samples, via torchattacks."""

import torchattacks

from ..errors import check_number, check_int_range, check_positive
from . import register


@register("eotpgd")
def build(model, eps: float = 0.3, step: float = 2 / 255, steps: int = 20, eot_samples: int = 10):
    """EOT+PGD against `model`: L-inf radius eps, `steps` steps of size `step`, `eot_samples` gradients per step."""
    check_number("attack.eotpgd.eps", eps, 0, 1)
    check_positive("attack.eotpgd.step", step)
    check_int_range("attack.eotpgd.steps", steps, 1)
    check_int_range("attack.eotpgd.eot_samples", eot_samples, 1)
    return torchattacks.EOTPGD(model, eps=eps, alpha=step, steps=steps, eot_iter=eot_samples, random_start=True)
