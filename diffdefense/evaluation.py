"""Accuracy, the paper's tables, and detection ROC from reconstruction error, with the paper's numbers."""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from . import paper

NO_DEFENCE = "no_defence"


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Predicted classes (on the CPU) of `model` for `images`, `batch_size` images at a time."""
    device = device or next(model.parameters()).device
    model.eval()
    return torch.cat([model(images[i:i + batch_size].to(device)).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, **kwargs) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (predict(model, images, **kwargs) == labels.cpu()).float().mean().item()


def timed_accuracy(defence, classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Purify `images` with `defence`, then classify: accuracy (%), wall seconds per image, mean reconstruction MSE."""
    start = time.perf_counter()
    purified = defence(images)
    seconds = (time.perf_counter() - start) / len(images)
    return {"accuracy": round(accuracy(classifier, purified.images, labels), 2),
            "seconds_per_image": round(seconds, 4), "recon_error": round(purified.recon_error.mean().item(), 5)}


def accuracy_rows(classifiers: dict[str, nn.Module], sets: dict, defended: dict) -> list[dict]:
    """One row per (set, defence): accuracy of the classifier the set is fed to.

    `sets` maps set name -> (images, labels, AttackSet or None for the clean set); `defended` maps
    defence name -> set name -> purified images (the sets fed to the defended classifier A)."""
    rows = []
    for name, (images, labels, spec) in sets.items():
        info = ({"attack": spec.attack, "box": spec.box, "crafted_on": spec.crafted_on,
                 "evaluated_on": spec.evaluated_on} if spec else
                {"attack": "clean", "box": "clean", "crafted_on": "-", "evaluated_on": "A"})
        conditions = {NO_DEFENCE: images} | {d: by_set[name] for d, by_set in defended.items() if name in by_set}
        for defence, purified in conditions.items():
            rows.append({"set": name} | info | {"defence": defence, "images": len(labels), "accuracy": round(
                accuracy(classifiers[info["evaluated_on"]], purified, labels), 2)})
    return rows


def table1(rows: list[dict], dataset: str) -> tuple[dict, list[dict]]:
    """Table 1: accuracy of A on the clean, white- and black-box sets, without and with each defence.
    Returns nested metrics (attack -> box -> defence) and flat rows with the paper's numbers beside."""
    references = paper.TABLE1.get(dataset, {})
    metrics, flat = {}, []
    for row in rows:
        if row["evaluated_on"] != "A":
            continue
        node = metrics.setdefault(row["attack"], {})
        node = node if row["box"] == "clean" else node.setdefault(row["box"], {})
        node[row["defence"]] = row["accuracy"]
        reference = references.get(f"{row['attack']}-{row['box']}" if row["box"] != "clean" else "clean", (None, None))
        flat.append(row | {"condition": f"{row['set']} / {row['defence']}",
                           "paper": {NO_DEFENCE: reference[0], "diffdefense": reference[1]}.get(row["defence"])})
    return metrics, flat


def table2(rows: list[dict], dataset: str, defence: str = "diffdefense") -> dict:
    """Table 2: per attack, accuracy of A without and with `defence` (white-box on A), and of the
    adversarially trained A_adv under the same attack crafted on it, with the paper's numbers for `dataset`."""
    by_key = {(r["attack"], r["box"], r["evaluated_on"], r["defence"]): r["accuracy"] for r in rows}
    images = {(r["attack"], r["evaluated_on"]): r["images"] for r in rows if r["box"] == "white"}
    table = {}
    for attack in dict.fromkeys(r["attack"] for r in rows if r["box"] == "white" and r["evaluated_on"] == "A"):
        reference = paper.TABLE2.get(dataset, {}).get(attack, (None, None, None))
        table[attack] = {"without_defence": by_key.get((attack, "white", "A", NO_DEFENCE)),
                         "with_defence": by_key.get((attack, "white", "A", defence)),
                         "adversarial_training": by_key.get((attack, "white", "A_adv", NO_DEFENCE)),
                         "images": images.get((attack, "A")), "images_adversarial_training": images.get((attack, "A_adv")),
                         "paper": dict(zip(("without_defence", "with_defence", "adversarial_training"), reference))}
    return table


def detection(clean_errors: torch.Tensor, attacked_errors: torch.Tensor, max_fpr: float = 0.05) -> dict:
    """ROC of reconstruction error as an attack detector: attacked images are positives, clean negatives."""
    scores = np.concatenate([clean_errors.numpy(), attacked_errors.numpy()])
    truth = np.concatenate([np.zeros(len(clean_errors)), np.ones(len(attacked_errors))])
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auc": float(roc_auc_score(truth, scores)), "tpr_at_fpr": float(tpr[fpr <= max_fpr].max()),
            "fpr": fpr, "tpr": tpr}
