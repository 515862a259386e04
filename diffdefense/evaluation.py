"""Accuracy and the result tables, with the paper's numbers for comparison."""

from __future__ import annotations

import torch
from torch import nn

# Table 1 of the paper (accuracy in %): (without defence, with defence).
PAPER_TABLE1 = {
    "MNIST": {"clean": (99.14, 99.06),
              "deepfool-white": (0.95, 98.16), "deepfool-black": (97.17, 98.86),
              "pgd-white": (5.81, 95.94), "pgd-black": (51.28, 97.18),
              "fgsm-white": (23.72, 89.95), "fgsm-black": (15.81, 91.28)},
    "KMNIST": {"clean": (None, 95.18),
               "deepfool-white": (2.93, 93.92), "deepfool-black": (92.16, 93.92),
               "pgd-white": (26.83, 84.85), "pgd-black": (58.43, 91.49),
               "fgsm-white": (37.0, 79.5), "fgsm-black": (49.96, 88.53)},
}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000,
            device: torch.device | str | None = None) -> torch.Tensor:
    device = device or next(model.parameters()).device
    model.eval()
    return torch.cat([model(images[i:i + batch_size].to(device)).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, **kwargs) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (predict(model, images, **kwargs) == labels.cpu()).float().mean().item()


def table1(classifier: nn.Module, dataset: str, sets: dict, defended: dict) -> tuple[dict, list[dict]]:
    """Table 1: accuracy of `classifier` on each set, bare and after each defence.

    `sets` maps set name ("clean", "<attack>-<box>") to (tensors, metadata) as loaded from data/sets;
    `defended` maps defence name to the same for its purified sets. Returns the metrics dict (nested
    attack -> box -> condition) and long-format rows for the CSV plot, with the paper's numbers."""
    paper = PAPER_TABLE1.get(dataset, {})
    labels = sets["clean"][0]["labels"]
    metrics: dict = {"dataset": dataset, "test_images": len(labels),
                     "seconds_per_image": {d: {s: meta["seconds_per_image"] for s, (_, meta) in by_set.items()}
                                           for d, by_set in defended.items()}}
    rows = []
    for set_name, (tensors, meta) in sets.items():
        conditions = {"no defence": accuracy(classifier, tensors["images"], labels)}
        conditions |= {d: accuracy(classifier, by_set[set_name][0]["images"], labels) for d, by_set in defended.items()}
        attack, _, box = set_name.partition("-")
        node = metrics.setdefault(attack, {})
        node = node.setdefault(box, {}) if box else node
        node.update({k.replace(" ", "_"): round(v, 2) for k, v in conditions.items()})
        for condition, value in conditions.items():
            reference = paper.get(set_name, (None, None))[0 if condition == "no defence" else 1]
            rows.append({"set": set_name, "attack": attack, "box": box or "-", "defence": condition,
                         "condition": f"{set_name} / {condition}", "accuracy": round(value, 2),
                         "paper_accuracy": reference if condition in ("no defence", "diffdefense") else None,
                         "attack_seconds_per_image": meta.get("seconds_per_image", 0.0)})
    return metrics, rows
