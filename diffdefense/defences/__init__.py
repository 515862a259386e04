"""Defence registry. A defence is a `Defence` subclass (base.py) that maps a batch of [0, 1] images to
`Purified` (images plus per-image reconstruction error). A new defence is one module here and one entry
in DEFENCES; the class itself declares its settings and says which weights files it loads and which
arguments are networks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError, check_int_range, check_one_of
from .base import Defence, Purified
from .defencegan import DefenceGAN
from .diffdefense import DiffDefense
from .diffpure import DiffPure
from .simple import Binarize, NoDefence

DEFENCES: dict[str, type[Defence]] = {
    "diffdefense": DiffDefense,
    "defencegan": DefenceGAN,
    "diffpure": DiffPure,
    "binarize": Binarize,
    "none": NoDefence,
}

# The weights files (in the models directory) each defence is built from; the dvc.yaml stages that
# build defences must declare them all (tests/test_dvc_graph.py checks).
WEIGHTS: dict[str, tuple[str, ...]] = {name: cls.weights for name, cls in DEFENCES.items()}


@dataclass
class DefenceContext:
    """What building a defence in the pipeline needs besides its settings: where the models are, the
    device, batching (param defend.batch_size)."""

    models_dir: Path
    device: torch.device
    batch_size: int = 40
    progress: bool = False

    def __post_init__(self):
        check_int_range("defend.batch_size", self.batch_size, 1)


# Constructor arguments the stages pass themselves, with the param they come from: in a defend.<name>
# section they would be given twice.
_SUPPLIED: dict[str, str | None] = {"batch_size": "defend.batch_size", "progress": None, "section": None,
                                    "bounds": None, "network": None}


def _check_not_supplied(name: str, settings: dict) -> None:
    """UsageError naming the key if `settings` (defend.<name>) hold what the stage passes itself."""
    check_one_of("defend.defences", name, DEFENCES)
    for key in settings:
        if key in _SUPPLIED or key in DEFENCES[name].networks:
            source = f"; the stage sets it from {_SUPPLIED[key]}" if _SUPPLIED.get(key) else "; the stage supplies it"
            raise UsageError(f"defend.{name}.{key} is not a setting of defend.{name}{source}")


def check_defence_settings(name: str, settings: dict, timesteps: int | None = None) -> None:
    """UsageError naming the param unless `settings` (params section defend.<name>) give every setting the
    registered defence `name` declares (bar the optional ones), each in range (t_star at most `timesteps`,
    train_ddpm.timesteps, when given), and none of what the stage passes itself (batch_size, progress,
    the networks)."""
    _check_not_supplied(name, settings)
    DEFENCES[name].settings.check(f"defend.{name}", settings, **({"timesteps": timesteps} if timesteps else {}))


def build_defence(name: str, settings: dict, ctx: DefenceContext) -> Defence:
    """The registered defence `name` on the pipeline's networks, built from `settings` (params section
    defend.<name>; those left out take the defence's defaults); errors name the param."""
    _check_not_supplied(name, settings)
    return DEFENCES[name].load(ctx.models_dir, ctx.device, batch_size=ctx.batch_size, progress=ctx.progress,
                               section=f"defend.{name}", **settings)


__all__ = ["DEFENCES", "WEIGHTS", "Binarize", "Defence", "DefenceContext", "DefenceGAN", "DiffDefense", "DiffPure",
           "NoDefence", "Purified", "build_defence", "check_defence_settings"]
