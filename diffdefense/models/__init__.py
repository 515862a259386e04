"""Model registry: classifiers by role name, plus the DDPM noise predictor. Every network takes the
C x H x W of its images (`image_shape`), which is saved in its weights' metadata and read back on load."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError, check_one_of
from ..diffusion import LinearSchedule
from ..io import load_tensors, save_tensors
from .classifiers import ClassifierA, ClassifierB
from .unet import UNet

# role -> architecture; A_adv and A_pgd are A's architecture trained adversarially (FGSM, PGD; Table 2)
CLASSIFIERS = {"A": ClassifierA, "B": ClassifierB, "A_adv": ClassifierA, "A_pgd": ClassifierA}


DEFAULT_SHAPE = (1, 28, 28)  # MNIST's, and that of weights saved before the shape was recorded


def build_classifier(name: str, image_shape: tuple[int, int, int] = DEFAULT_SHAPE) -> nn.Module:
    """An untrained classifier of role `name` (A, B, A_adv or A_pgd) for C x H x W images."""
    check_one_of("classifier", name, CLASSIFIERS)
    return CLASSIFIERS[name](image_shape=image_shape)


def save_weights(model: nn.Module, path: str | Path, metadata: dict | None = None) -> None:
    """Save `model`'s state dict as safetensors (atomically), with JSON metadata (and the model's
    image shape, which loading needs to rebuild it)."""
    shape = {"image_shape": list(model.image_shape)} if hasattr(model, "image_shape") else {}
    save_tensors(path, model.state_dict(), shape | (metadata or {}))


def saved_image_shape(path: str | Path, made_by: str) -> tuple[int, int, int]:
    """The C x H x W recorded with the weights at `path`."""
    _, meta = load_tensors(path, made_by)
    return tuple(meta.get("image_shape", DEFAULT_SHAPE))


def load_weights(model: nn.Module, path: str | Path, made_by: str) -> nn.Module:
    """Load safetensors weights into `model`, with one-line errors for missing, damaged or mismatched files."""
    state, _ = load_tensors(path, made_by)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise UsageError(f"{path} does not fit {type(model).__name__}: {first}") from exc
    return model.eval()


def load_classifier(name: str, path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """A trained classifier of role `name` from `path`, in eval mode on `device`."""
    made_by = f"train_classifier@{name}"
    return load_weights(build_classifier(name, saved_image_shape(path, made_by)), path, made_by).to(device)


def save_ddpm(unet: UNet, schedule: LinearSchedule, path: str | Path) -> None:
    """Save the noise predictor with the schedule it was trained on."""
    save_weights(unet, path, {"num_steps": schedule.num_steps, "beta_start": schedule.beta_start,
                              "beta_end": schedule.beta_end})


def load_ddpm(path: str | Path, device: torch.device | str = "cpu") -> tuple[UNet, LinearSchedule]:
    """Load a DDPM saved by `save_ddpm`: the U-Net and its training schedule."""
    _, meta = load_tensors(path, "train_ddpm")
    if "num_steps" not in meta:
        raise UsageError(f"{path} has no schedule metadata; it was not written by train_ddpm")
    schedule = LinearSchedule(meta["num_steps"], meta["beta_start"], meta["beta_end"])
    unet = load_weights(UNet(tuple(meta.get("image_shape", DEFAULT_SHAPE))), path, made_by="train_ddpm")
    return unet.to(device), schedule
