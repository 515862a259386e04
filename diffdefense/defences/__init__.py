"""Defence registry. A defence is a `Defence` subclass (base.py) that maps a batch of [0, 1] images to
`Purified` (images plus per-image reconstruction error). A new defence is one module here and one entry
in DEFENCES; the class itself says which weights files it loads and which arguments are networks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import check_int_range, check_one_of, settings_of
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
    batch_size: int = 64
    progress: bool = False

    def __post_init__(self):
        check_int_range("defend.batch_size", self.batch_size, 1)


def build_defence(name: str, settings: dict, ctx: DefenceContext) -> Defence:
    """The registered defence `name` on the pipeline's networks, built from its params section
    `settings` (defend.<name>); errors name the param."""
    check_one_of("defend.defences", name, DEFENCES)
    with settings_of(f"defend.{name}"):
        return DEFENCES[name].load(ctx.models_dir, ctx.device, batch_size=ctx.batch_size, progress=ctx.progress,
                                   **settings)


__all__ = ["DEFENCES", "WEIGHTS", "Binarize", "Defence", "DefenceContext", "DefenceGAN", "DiffDefense", "DiffPure",
           "NoDefence", "Purified", "build_defence"]
