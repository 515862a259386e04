"""Accuracy, the paper's tables, and detection ROC from reconstruction error, with the paper's numbers."""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from . import paper
from .statistics import CONFIDENCE, auc_interval, outside, summarise

NO_DEFENCE = "no_defence"
SATURATED = 0.01  # a purified pixel within this of 0 or 1 counts as saturated


@torch.no_grad()
def logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000,
           device: torch.device | str | None = None) -> torch.Tensor:
    """`model`'s logits (on the CPU) for `images`, `batch_size` images at a time, in eval mode."""
    device = device or next(model.parameters()).device
    model.eval()
    return torch.cat([model(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def predict(model: nn.Module, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """Predicted classes (on the CPU) of `model` for `images`."""
    return logits(model, images, **kwargs).argmax(1)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, **kwargs) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * correct(model, images, labels, **kwargs).float().mean().item()


def correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
    """Per image, whether `model` classifies it as `labels` says (bool, on the CPU)."""
    return predict(model, images, **kwargs) == labels.cpu()


def confident(model: nn.Module, images: torch.Tensor, level: float = 0.9, **kwargs) -> torch.Tensor:
    """Per image, whether `model`'s top softmax probability is at least `level` (bool, on the CPU)."""
    return logits(model, images, **kwargs).softmax(1).max(1).values >= level


def margins(model: nn.Module, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """Per image, the gap between the two largest logits: near 0 the prediction sits on a decision
    boundary, where float rounding (another device, batch size or thread count) can flip it."""
    top2 = logits(model, images, **kwargs).topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]


BOUNDARY_MARGIN = 1e-3  # logit gap under which an image counts as on the boundary


def saturated_fraction(images: torch.Tensor) -> float:
    """The fraction of pixels within SATURATED of 0 or 1: how close a purification is to thresholding."""
    return round(((images < SATURATED) | (images > 1 - SATURATED)).float().mean().item(), 4)


def timed_accuracy(defence, classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   confidence: float = CONFIDENCE) -> dict:
    """Purify `images` with `defence`, then classify: accuracy (%) with image count and interval, wall
    seconds per image, mean reconstruction MSE, and the fraction of output pixels saturated (below 0.01 or
    above 0.99: how close the purification is to thresholding)."""
    start = time.perf_counter()
    purified = defence(images)
    seconds = (time.perf_counter() - start) / len(images)
    return summarise(correct(classifier, purified.images, labels), confidence) | {
        "seconds_per_image": round(seconds, 4), "recon_error": round(purified.recon_error.mean().item(), 5),
        "saturated": saturated_fraction(purified.images)}


def accuracy_rows(classifiers: dict[str, nn.Module], sets: dict, defended: dict,
                  confidence: float = CONFIDENCE) -> list[dict]:
    """One row per (set, defence): accuracy of the classifier the set is fed to, with its interval.

    `sets` maps set name -> (images, labels, AttackSet or None for the clean set); `defended` maps
    defence name -> set name -> purified images (the sets fed to the defended classifier A)."""
    rows = []
    for name, (images, labels, spec) in sets.items():
        info = ({"attack": spec.attack, "box": spec.box, "crafted_on": spec.crafted_on,
                 "evaluated_on": spec.evaluated_on} if spec else
                {"attack": "clean", "box": "clean", "crafted_on": "-", "evaluated_on": "A"})
        conditions = {NO_DEFENCE: images} | {d: by_set[name] for d, by_set in defended.items() if name in by_set}
        for defence, purified in conditions.items():
            rows.append({"set": name} | info | {"defence": defence} | summarise(
                correct(classifiers[info["evaluated_on"]], purified, labels), confidence))
    return rows


def summary(row: dict) -> dict:
    """The accuracy summary of a result row (accuracy, images, interval, and the saturated fraction where
    measured), without its other columns."""
    return {k: row[k] for k in ("accuracy", "images", "ci_low", "ci_high", "saturated") if k in row}


def table1(rows: list[dict], dataset: str) -> tuple[dict, list[dict]]:
    """Table 1: accuracy of A on the clean, white- and black-box sets, without and with each defence.
    Returns nested metrics (attack -> box -> defence -> accuracy, images, interval) and flat rows with
    the paper's number beside each and whether it lies outside our interval."""
    references = paper.TABLE1.get(dataset, {})
    metrics, flat = {}, []
    for row in rows:
        if row["evaluated_on"] != "A":
            continue
        node = metrics.setdefault(row["attack"], {})
        node = node if row["box"] == "clean" else node.setdefault(row["box"], {})
        node[row["defence"]] = summary(row)
        reference = references.get(f"{row['attack']}-{row['box']}" if row["box"] != "clean" else "clean", (None, None))
        reference = {NO_DEFENCE: reference[0], "diffdefense": reference[1]}.get(row["defence"])
        flat.append(row | {"condition": f"{row['set']} / {row['defence']}", "paper": reference,
                           "paper_outside_interval": outside(reference, row)})
    return metrics, flat


def table2(rows: list[dict], dataset: str, robust_training: dict[str, str], defence: str = "diffdefense") -> dict:
    """Table 2: per attack, accuracy of A without and with `defence` (white-box on A), and of each
    robustly trained classifier (`robust_training`: column -> classifier role) under the same attack
    crafted on it (each with images and interval; None where that set was not made), with the paper's
    numbers for `dataset` (it has FGSM adversarial training only)."""
    by_key = {(r["attack"], r["box"], r["evaluated_on"], r["defence"]): summary(r) for r in rows}
    table = {}
    for attack in dict.fromkeys(r["attack"] for r in rows if r["box"] == "white" and r["evaluated_on"] == "A"):
        reference = paper.TABLE2.get(dataset, {}).get(attack, (None, None, None))
        table[attack] = ({"without_defence": by_key.get((attack, "white", "A", NO_DEFENCE)),
                          "with_defence": by_key.get((attack, "white", "A", defence))}
                         | {column: by_key.get((attack, "white", role, NO_DEFENCE))
                            for column, role in robust_training.items()}
                         | {"paper": dict(zip(("without_defence", "with_defence", "adversarial_training"), reference))})
    return table


def detection(clean_errors: torch.Tensor, attacked_errors: torch.Tensor, max_fpr: float = 0.05, *,
              confidence: float = CONFIDENCE, resamples: int = 1000, seed: int = 0) -> dict:
    """ROC of reconstruction error as an attack detector: attacked images are positives, clean negatives.
    The AUC comes with a bootstrap interval over the images (`resamples` seeded by `seed`)."""
    scores = np.concatenate([clean_errors.numpy(), attacked_errors.numpy()])
    truth = np.concatenate([np.zeros(len(clean_errors)), np.ones(len(attacked_errors))])
    fpr, tpr, _ = roc_curve(truth, scores)
    low, high = auc_interval(clean_errors.numpy(), attacked_errors.numpy(), confidence=confidence,
                             resamples=resamples, seed=seed)
    return {"auc": float(roc_auc_score(truth, scores)), "auc_ci_low": low, "auc_ci_high": high,
            "tpr_at_fpr": float(tpr[fpr <= max_fpr].max()), "fpr": fpr, "tpr": tpr,
            "clean_images": len(clean_errors), "attacked_images": len(attacked_errors)}
