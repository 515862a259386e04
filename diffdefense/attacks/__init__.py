"""Attack registry. An attack is built from a classifier and its settings and then called as
`attack(images, labels) -> adversarial images`, on [0, 1] images (torchattacks/ART conventions).

A new attack is one module here with a `build(model, **settings)` function, plus its entry in ATTACKS.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import check_one_of, settings_of
from . import autoattack, binarize_pgd, deepfool, elasticnet, eotpgd, fgsm, pgd, square

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ATTACKS: dict[str, Callable[..., Attack]] = {
    "fgsm": fgsm.build,
    "pgd": pgd.build,
    "deepfool": deepfool.build,
    "eotpgd": eotpgd.build,
    "square": square.build,
    "autoattack": autoattack.build,
    "elasticnet": elasticnet.build,
    "binarize_pgd": binarize_pgd.build,
}


def build_attack(name: str, model: torch.nn.Module, settings: dict, section: str | None = None) -> Attack:
    """Build attack `name` against `model`; `settings` are its keyword params from params.yaml, whose
    section (default attack.settings.<name>) errors name."""
    check_one_of("attack name", name, ATTACKS)
    with settings_of(section or f"attack.settings.{name}"):
        return ATTACKS[name](model.eval(), **settings)

