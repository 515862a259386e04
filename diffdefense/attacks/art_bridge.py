"""Run an adversarial-robustness-toolbox evasion attack on a PyTorch classifier, tensors in and out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import UsageError

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


def art_classifier(model: torch.nn.Module, nb_classes: int = 10) -> PyTorchClassifier:
    """`model` (logits, [0, 1] inputs of its `image_shape`) wrapped as ART's PyTorchClassifier on the
    model's device."""
    from art.estimators.classification import PyTorchClassifier  # seconds to import: only when used

    if not hasattr(model, "image_shape"):
        raise UsageError(f"{type(model).__name__} has no image_shape (C, H, W), which ART's attacks need")
    device = next(model.parameters()).device
    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=model.image_shape,
                             nb_classes=nb_classes, clip_values=(0.0, 1.0),
                             device_type="gpu" if device.type == "cuda" else "cpu")


def run_art(attack, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`attack.generate` on tensors: the adversarial images come back on the input's device, in [0, 1]."""
    adv = attack.generate(x=images.detach().cpu().numpy().astype(np.float32), y=labels.cpu().numpy())
    return torch.from_numpy(adv).to(images.device).clamp(0, 1)
