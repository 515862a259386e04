"""Defence registry. A defence is built from its settings and a context and maps a batch of [0, 1]
images to `Purified` (images plus per-image reconstruction error). A new defence is one module
here and one entry in DEFENCES."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import check_one_of, unknown_keywords_as_usage_error
from ..models import load_ddpm
from ..models.gan import load_generator
from .base import Defence, Purified
from .defencegan import DefenceGAN
from .diffdefense import DiffDefense
from .diffpure import DiffPure
from .simple import Binarize, NoDefence


@dataclass
class DefenceContext:
    """What building a defence may need besides its settings: where the models are, the device, batching."""

    models_dir: Path
    device: torch.device
    batch_size: int = 64
    progress: bool = False


# The weights files (in the models directory) each defence is built from: the one place they are named.
# The dvc.yaml stages that build defences declare them all (a test checks).
WEIGHTS: dict[str, tuple[str, ...]] = {
    "diffdefense": ("ddpm.safetensors",),
    "defencegan": ("gan.safetensors",),
    "diffpure": ("ddpm.safetensors",),
    "binarize": (),
    "none": (),
}


def build_diffdefense(settings: dict, ctx: DefenceContext) -> DiffDefense:
    """DiffDefense on the pipeline's DDPM."""
    unet, schedule = load_ddpm(ctx.models_dir / WEIGHTS["diffdefense"][0], ctx.device)
    return DiffDefense(unet, schedule, batch_size=ctx.batch_size, progress=ctx.progress, **settings)


def build_defencegan(settings: dict, ctx: DefenceContext) -> DefenceGAN:
    """Defense-GAN on the pipeline's generator."""
    generator = load_generator(ctx.models_dir / WEIGHTS["defencegan"][0], ctx.device)
    return DefenceGAN(generator, batch_size=ctx.batch_size, progress=ctx.progress, **settings)


def build_diffpure(settings: dict, ctx: DefenceContext) -> DiffPure:
    """DiffPure-style purification on the pipeline's DDPM."""
    unet, schedule = load_ddpm(ctx.models_dir / WEIGHTS["diffpure"][0], ctx.device)
    return DiffPure(unet, schedule, batch_size=ctx.batch_size, progress=ctx.progress, **settings)


DEFENCES: dict[str, Callable[[dict, DefenceContext], Defence]] = {
    "diffdefense": build_diffdefense,
    "defencegan": build_defencegan,
    "diffpure": build_diffpure,
    "binarize": lambda settings, ctx: Binarize(**settings),
    "none": lambda settings, ctx: NoDefence(**settings),
}


def build_defence(name: str, settings: dict, ctx: DefenceContext) -> Defence:
    """The registered defence `name` built from its params section `settings`."""
    check_one_of("defend.defences", name, DEFENCES)
    with unknown_keywords_as_usage_error(f"defend.{name}"):
        return DEFENCES[name](settings, ctx)


__all__ = ["DEFENCES", "WEIGHTS", "Binarize", "Defence", "DefenceContext", "DefenceGAN", "DiffDefense", "DiffPure", "NoDefence",
           "Purified", "build_defence"]
