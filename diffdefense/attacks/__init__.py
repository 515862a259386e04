"""Attack registry. An attack is built from a classifier and its settings and then called as
`attack(images, labels) -> adversarial images`, on [0, 1] images (torchattacks/ART conventions).

A new attack is one module here with a `build(model, **settings)` function, plus its entry in ATTACKS.
"""

from __future__ import annotations

from contextlib import contextmanager
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


class _InEvalMode:
    """`attack` run with `model` in eval mode (dropout off), the model's mode restored afterwards; the
    attack's own attributes (such as `yields`) read through."""

    def __init__(self, attack: Attack, model: torch.nn.Module):
        self.attack, self.model = attack, model

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with _eval_mode(self.model):
            return self.attack(images, labels)

    def __getattr__(self, name: str):
        if name == "attack":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.attack, name)


@contextmanager
def _eval_mode(model: torch.nn.Module):
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.train(training)


def build_attack(name: str, model: torch.nn.Module, settings: dict, section: str | None = None) -> Attack:
    """Build attack `name` against `model`; `settings` are its keyword params from params.yaml, whose
    section (default attack.settings.<name>) errors name. The attack runs `model` in eval mode and leaves
    it in the mode it found it in."""
    check_one_of("attack name", name, ATTACKS)
    with settings_of(section or f"attack.settings.{name}"), _eval_mode(model):
        return _InEvalMode(ATTACKS[name](model, **settings), model)

