"""Defence registry. A defence is a `Defence` subclass (base.py) that maps a batch of [0, 1] images to
`Purified` (images plus per-image reconstruction error). A new defence is one module here and one entry
in DEFENCES; the class itself says which weights files it loads and which arguments are networks."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..diffusion import LinearSchedule
from ..errors import UsageError, check_int_range, check_one_of, settings_of
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

# Settings a params section defend.<name> may leave out: DiffDefense's ablations (ablation.variants), whose
# defaults are the method itself, and the frozen U-Net's precision (default auto, as params.yaml). Any other setting left
# out is an error, not the library's default.
OPTIONAL_SETTINGS: dict[str, tuple[str, ...]] = {
    "diffdefense": ("denoiser", "output", "code_beta_start", "code_beta_end", "precision"),
    "diffpure": ("precision",),
}


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


# Constructor arguments the stages pass themselves (DefenceContext), with the param they come from: in a
# defend.<name> section they would be given twice ("multiple values for keyword argument").
_SUPPLIED: dict[str, str | None] = {"batch_size": "defend.batch_size", "progress": None}


def _network_arguments(cls: type[Defence]) -> set[str]:
    """The names of the constructor's leading network arguments (the stage passes the trained networks)."""
    params = list(inspect.signature(cls).parameters.values())
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return set(positional[:len(cls.networks)]) | {"network"}


def check_not_supplied(name: str, settings: dict) -> None:
    """UsageError naming the key if `settings` (params section defend.<name>) hold an argument the stage
    passes the registered defence `name` itself: batch_size or progress (DefenceContext), or a network."""
    check_one_of("defend.defences", name, DEFENCES)
    for key in settings:
        if key in _SUPPLIED or key in _network_arguments(DEFENCES[name]):
            source = f"; the stage sets it from {_SUPPLIED[key]}" if _SUPPLIED.get(key) else "; the stage supplies it"
            raise UsageError(f"defend.{name}.{key} is not a setting of defend.{name}{source}")


def check_given(name: str, settings: dict) -> None:
    """UsageError unless `settings` (params section defend.<name>) give every setting of the registered
    defence `name`: each keyword of its constructor after the networks, and the seed of a randomised one,
    bar its OPTIONAL_SETTINGS; and none of what the stage passes itself (batch_size and progress from
    DefenceContext, the networks), which would otherwise be given twice."""
    check_not_supplied(name, settings)
    cls = DEFENCES[name]
    common = inspect.signature(Defence).parameters  # network, seed, batch_size, progress
    own = list(inspect.signature(cls).parameters.values())[len(cls.networks):]
    needed = {p.name for p in own if p.kind is not p.VAR_KEYWORD} - set(common) - set(OPTIONAL_SETTINGS.get(name, ()))
    if cls.randomised:
        needed.add("seed")
    missing = sorted(needed - set(settings))
    if missing:
        raise UsageError(f"defend.{name} is missing the key(s) {missing}")


def check_settings(name: str, settings: dict, timesteps: int) -> None:
    """What build_defence checks of `settings` (defend.<name>: every setting given, none unknown, each in
    range) without loading weights: the defence is built on untrained stand-ins for its networks, the
    diffusion schedule `timesteps` long (train_ddpm.timesteps, which bounds t_star)."""
    check_given(name, settings)
    generator = nn.Module()
    generator.latent_dim = 1  # all that DefenceGAN's constructor reads of its generator
    stand_ins = {"unet": nn.Module(), "schedule": LinearSchedule(timesteps), "generator": generator}
    cls = DEFENCES[name]
    with settings_of(f"defend.{name}"):
        cls(*(stand_ins[network] for network in cls.networks), **settings)


def build_defence(name: str, settings: dict, ctx: DefenceContext) -> Defence:
    """The registered defence `name` on the pipeline's networks, built from its params section
    `settings` (defend.<name>); errors name the param."""
    check_not_supplied(name, settings)
    with settings_of(f"defend.{name}"):
        return DEFENCES[name].load(ctx.models_dir, ctx.device, batch_size=ctx.batch_size, progress=ctx.progress,
                                   **settings)


__all__ = ["DEFENCES", "WEIGHTS", "Binarize", "Defence", "DefenceContext", "DefenceGAN", "DiffDefense", "DiffPure",
           "NoDefence", "OPTIONAL_SETTINGS", "Purified", "build_defence", "check_given", "check_not_supplied",
           "check_settings"]
