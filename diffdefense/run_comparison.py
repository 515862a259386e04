"""Two runs of the pipeline compared image by image: the paired test that judges a change which alters
outputs (a precision, a machine) on the same images, where comparing two accuracies would waste the pairing.
Used by scripts/compare_defended.py and benchmarks/precision.py."""

from __future__ import annotations

import torch

from .statistics import mcnemar, summarise


def paired_by_set(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
                  labels: tuple[str, str] = ("first", "second")) -> list[dict]:
    """Per set (the keys of `first`) and over all of them: each side's accuracy with its interval and the
    exact McNemar test of the pair, from per-image correctness of two runs on the same images."""
    rows = []
    for name in [*first, "all sets"]:
        a, b = ((side[name] if name != "all sets" else torch.cat(list(side.values()))) for side in (first, second))
        test = mcnemar(a, b)
        rows.append({"set": name, "images": len(a), labels[0]: summarise(a), labels[1]: summarise(b),
                     f"only_{labels[0]}": test["only_first"], f"only_{labels[1]}": test["only_second"],
                     "p_value": test["p_value"], "detectable_difference": test["detectable_difference"]})
    return rows
