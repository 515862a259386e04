"""Plug-and-play: wrap any PyTorch classifier with a defence from the registry, as one nn.Module.

    from diffdefense import defended_classifier, load_pipeline_models
    classifier, unet, schedule = load_pipeline_models("models")
    model = defended_classifier(classifier, unet=unet, schedule=schedule)   # DiffDefense, pipeline defaults
    logits = model(images)                                                  # purify, then classify
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .defences import DEFENCES, Defence, Purified
from .defences.base import reconstruction_error
from .diffusion import LinearSchedule
from .errors import UsageError, check_one_of
from .models import load_classifier, load_ddpm

GRADIENTS = ("bpda", "full")


def check_images(images, name: str = "images", shape: tuple[int, ...] | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
    """Reject anything but a non-empty `dtype` tensor N x C x H x W (C x H x W = `shape`, if given) with
    finite values in [0, 1], saying in one line what was expected."""
    expected = "N x " + (" x ".join(map(str, shape)) if shape else "C x H x W")
    if not isinstance(images, torch.Tensor):
        raise UsageError(f"{name} must be a torch.Tensor of shape {expected} in [0, 1], got {type(images).__name__}")
    if images.dim() != 4 or (shape is not None and tuple(images.shape[1:]) != tuple(shape)):
        raise UsageError(f"{name} must have shape {expected}, got {tuple(images.shape)}")
    if len(images) == 0:
        raise UsageError(f"{name} is an empty batch (shape {tuple(images.shape)}); pass at least one image")
    if images.dtype != dtype:
        raise UsageError(f"{name} must be {str(dtype).removeprefix('torch.')} (the model's dtype) with values in "
                         f"[0, 1], got {str(images.dtype).removeprefix('torch.')}")
    if not torch.isfinite(images).all():
        raise UsageError(f"{name} contains NaN or infinite values; expected finite values in [0, 1]")
    low, high = images.min().item(), images.max().item()
    if low < 0 or high > 1:
        raise UsageError(f"{name} must have values in [0, 1], got [{low:.3g}, {high:.3g}] "
                         "(scale 0-255 images by 1/255; do not mean/std-normalise)")


class DefendedClassifier(nn.Module):
    """`classifier(defence(x))` as one module.

    forward() returns the classifier's logits on the purified images, so gradient-based attacks from the
    registry run against the defended model. Its gradient with respect to the input is, with
    gradient="bpda", the straight-through (BPDA, identity) approximation of the purification; with
    gradient="full", the true gradient through the purification (`differentiable` defences:
    DiffDefense, DiffPure, none), which costs several times the memory and time, so it is only built
    when the input requires a gradient (scoring runs the plain purification). The last call's
    per-image reconstruction errors are kept in `last_recon_error` (a detection score: larger means
    more likely attacked)."""

    def __init__(self, classifier: nn.Module, defence: Defence, gradient: str = "bpda"):
        super().__init__()
        check_one_of("gradient", gradient, GRADIENTS)
        if gradient == "full" and not defence.differentiable:
            raise UsageError(f"gradient='full' needs a defence that is differentiable end to end; "
                             f"{type(defence).__name__} is not, so use gradient='bpda'")
        self.classifier = classifier.eval()
        self.defence, self.gradient = defence, gradient
        # the shape the purifier (else the classifier) is built for, if it says
        self.image_shape = defence.image_shape or getattr(classifier, "image_shape", None)
        self.dtype = next(classifier.parameters()).dtype
        self.last_recon_error: torch.Tensor | None = None

    def redraw(self, seed: int) -> None:
        """Re-seed the defence's randomness (z_T starts, noise), for EOT attacks and fresh evaluation draws."""
        self.defence.seed = seed

    def purify(self, images: torch.Tensor) -> Purified:
        """Purified images (on the input's device) and per-image reconstruction errors."""
        check_images(images, shape=self.image_shape, dtype=self.dtype)
        purified = self.defence(images.detach())
        return Purified(purified.images.to(images.device), purified.recon_error.to(images.device))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of the classifier on the purified `images` (N x C x H x W in [0, 1])."""
        return self.forward_with_error(images)[0]

    def forward_with_error(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits, and per-image reconstruction errors that a detector-aware attack can differentiate:
        through the purification with gradient="full", else with the purified image held fixed (BPDA)."""
        if self.gradient == "full" and torch.is_grad_enabled() and images.requires_grad:
            check_images(images, shape=self.image_shape, dtype=self.dtype)
            purified = self.defence.purify_with_graph(images)
            self.last_recon_error = purified.recon_error.to(images.device)
            out = purified.images.to(images.device)
            return self.classifier(out), reconstruction_error(out, images)
        purified = self.purify(images)
        self.last_recon_error = purified.recon_error
        straight_through = images + (purified.images - images).detach()
        error = reconstruction_error(purified.images.detach(), images) if images.requires_grad else purified.recon_error
        return self.classifier(straight_through), error


def defended_classifier(classifier: nn.Module, defence: str = "diffdefense", *, unet: nn.Module | None = None,
                        schedule: LinearSchedule | None = None, generator: nn.Module | None = None,
                        batch_size: int = 40, device: torch.device | str | None = None, gradient: str = "bpda",
                        **settings) -> DefendedClassifier:
    """Wrap `classifier` with the registered defence `defence` (diffdefense, diffpure, defencegan,
    binarize, none), given the networks it runs: `unet` and `schedule` (DiffDefense, DiffPure) or
    `generator` (Defense-GAN). `settings` override the defence's defaults, which are the pipeline's
    (for DiffDefense: variant, L, R, t_star, lr, lr_restart, decay, seed). Models are moved to `device`
    (default: the classifier's). `gradient` is what attacks differentiate: "bpda" or "full" (see
    DefendedClassifier)."""
    check_one_of("defence", defence, DEFENCES)
    device = torch.device(device) if device is not None else next(classifier.parameters()).device
    given = {"unet": unet, "schedule": schedule, "generator": generator}
    cls = DEFENCES[defence]
    missing = [name for name in cls.networks if given[name] is None]
    if missing:
        needed = " and ".join(f"{name}=" for name in cls.networks)
        raise UsageError(f"defence {defence!r} needs {needed} (see load_pipeline_models and "
                         "diffdefense.models.gan.load_generator)")
    networks = [given[n].to(device) if isinstance(given[n], nn.Module) else given[n] for n in cls.networks]
    return DefendedClassifier(classifier.to(device), cls(*networks, batch_size=batch_size, **settings), gradient)


def load_pipeline_models(models_dir: str | Path = "models", classifier: str = "A",
                         device: torch.device | str = "cpu") -> tuple[nn.Module, nn.Module, LinearSchedule]:
    """The pipeline's trained classifier (`A` by default) and DDPM from `models_dir` (safetensors), with a
    one-line error when a file is missing, truncated or of another architecture."""
    models_dir = Path(models_dir)
    model = load_classifier(classifier, models_dir / f"classifier_{classifier}.safetensors", device)
    unet, schedule = load_ddpm(models_dir / "ddpm.safetensors", device)
    return model, unet, schedule


def detection_threshold(clean_errors: torch.Tensor, false_positive_rate: float = 0.05) -> float:
    """The reconstruction error above which an input is flagged as attacked, set so that a fraction
    `false_positive_rate` of the given clean images would be flagged."""
    if not 0 < false_positive_rate < 1:
        raise UsageError(f"false_positive_rate={false_positive_rate!r} is out of range; expected a number in (0, 1)")
    if not isinstance(clean_errors, torch.Tensor) or clean_errors.dim() != 1 or len(clean_errors) == 0:
        shape = tuple(clean_errors.shape) if isinstance(clean_errors, torch.Tensor) else type(clean_errors).__name__
        raise UsageError(f"clean_errors must be a non-empty 1-D tensor of per-image errors, got {shape}")
    return float(np.quantile(clean_errors.detach().cpu().numpy(), 1 - false_positive_rate))
