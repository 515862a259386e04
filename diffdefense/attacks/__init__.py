"""Attack registry. An attack is built from a classifier and its settings and then called as
`attack(images, labels) -> adversarial images`, on [0, 1] images (torchattacks/ART conventions).

A new attack is one module here that decorates its builder with `@register("name")`, plus its
import below.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import check_one_of, unknown_keywords_as_usage_error

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ATTACKS: dict[str, Callable[..., Attack]] = {}


def register(name: str):
    """Decorator: add the decorated builder `builder(model, **settings) -> Attack` to ATTACKS as `name`."""
    def add(builder):
        ATTACKS[name] = builder
        return builder
    return add


def build_attack(name: str, model: torch.nn.Module, settings: dict) -> Attack:
    """Build attack `name` against `model`; `settings` are its keyword params from params.yaml."""
    check_one_of("attack name", name, ATTACKS)
    with unknown_keywords_as_usage_error(f"attack.settings.{name}"):
        return ATTACKS[name](model.eval(), **settings)


from . import autoattack, deepfool, elasticnet, eotpgd, fgsm, pgd, square  # noqa: E402,F401  (registers them)
