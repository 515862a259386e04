"""Attack registry. An attack is built from a classifier and its settings and then called as
`attack(images, labels) -> adversarial images`, on [0, 1] images (torchattacks/ART conventions).

A new attack is one module here with its settings declared in `SETTINGS` (diffdefense.settings) and a
`build(model, **settings)` function, plus its entry in ATTACKS.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

import torch

from ..errors import UsageError, check_one_of
from . import autoattack, binarize_pgd, deepfool, elasticnet, eotpgd, fgsm, pgd, square

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ATTACKS: dict[str, ModuleType] = {  # name -> its module: SETTINGS and build
    "fgsm": fgsm,
    "pgd": pgd,
    "deepfool": deepfool,
    "eotpgd": eotpgd,
    "square": square,
    "autoattack": autoattack,
    "elasticnet": elasticnet,
    "binarize_pgd": binarize_pgd,
}


@dataclass(frozen=True)
class AttackEntry:
    """The check of a params mapping {attack: <registered attack>, ...that attack's settings} (those left
    out take their defaults), plus `extra` keys with their own checks (such as a surrogate's classifiers)."""

    extra: dict = field(default_factory=dict)

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if not isinstance(value, dict):
            raise UsageError(f"{name} must be a mapping with the key 'attack', got {value!r}")
        for key, check in self.extra.items():
            if key in value:
                check.check(f"{name}.{key}", value[key])
        check_attack_settings(value.get("attack"), {k: v for k, v in value.items() if k != "attack" and k not in self.extra},
                              name)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "mapping: `attack` (a registered attack) and that attack's settings"


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


def check_attack_settings(name: str, settings: dict, section: str | None = None) -> None:
    """UsageError naming the param unless `settings` (params section `section`, by default
    attack.settings.<name>) are settings of attack `name` in range; those left out take their defaults."""
    check_one_of(f"{section}.attack" if section else "attack name", name, ATTACKS)
    ATTACKS[name].SETTINGS.check(section or f"attack.settings.{name}", settings, complete=False)


def build_attack(name: str, model: torch.nn.Module, settings: dict, section: str | None = None) -> Attack:
    """Build attack `name` against `model`; `settings` are its keyword params from params.yaml, whose
    section (default attack.settings.<name>) errors name. The attack runs `model` in eval mode and leaves
    it in the mode it found it in."""
    check_attack_settings(name, settings, section)
    with _eval_mode(model):
        return _InEvalMode(ATTACKS[name].build(model, **settings), model)

