"""One-at-a-time sweeps of a defence's settings (Fig. 3 and the cost/robustness trade-off)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .evaluation import timed_accuracy
from .progress import progress
from .statistics import CONFIDENCE


def sweep(build: Callable[[dict], object], classifier: nn.Module, sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
          base: dict, grid: dict[str, list], confidence: float = CONFIDENCE,
          variants: dict[str, dict] | None = None) -> list[dict]:
    """Vary each setting in `grid` over its values, the others held at `base`, and measure the defence
    (built by `build(settings)`) on every set; then each of `variants` (name -> settings replaced in
    `base`), as rows varied="variant", value=name. A point shared by several sweeps (the base) runs once.
    Returns rows: varied, value, set, accuracy, images, ci_low, ci_high, seconds_per_image, recon_error."""
    measured: dict[tuple, dict] = {}
    rows = []
    points = [(name, value, {name: value}) for name, values in grid.items() for value in values]
    points += [("variant", name, changes) for name, changes in (variants or {}).items()]
    for name, value, changes in progress(points, desc="ablation", unit="setting"):
        settings = base | changes
        key = tuple(sorted(settings.items()))
        if key not in measured:
            defence = build(settings)
            measured[key] = {s: timed_accuracy(defence, classifier, images, labels, confidence)
                             for s, (images, labels) in sets.items()}
        rows += [{"varied": name, "value": value, "set": s} | result for s, result in measured[key].items()]
    return rows
