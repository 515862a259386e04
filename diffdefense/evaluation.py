"""Accuracy, the paper's tables, and detection ROC from reconstruction error, with the paper's numbers."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

NO_DEFENCE = "no_defence"

# Table 1 of the paper (accuracy in %): set -> (without defence, with DiffDefense).
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
# Table 2 (MNIST): attack -> (without defence, with DiffDefense, adversarial training).
PAPER_TABLE2 = {"fgsm": (23.72, 89.95, 98.02), "pgd": (5.81, 95.94, 79.59), "deepfool": (0.95, 98.16, 5.81),
                "eotpgd": (24.57, 96.46, 89.22), "square": (43.31, 97.31, 93.09),
                "autoattack": (1.26, 88.09, 45.86), "elasticnet": (0.75, 95.75, 0.62)}


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
    paper = PAPER_TABLE1.get(dataset, {})
    metrics, flat = {}, []
    for row in rows:
        if row["evaluated_on"] != "A":
            continue
        node = metrics.setdefault(row["attack"], {})
        node = node if row["box"] == "clean" else node.setdefault(row["box"], {})
        node[row["defence"]] = row["accuracy"]
        reference = paper.get(f"{row['attack']}-{row['box']}" if row["box"] != "clean" else "clean", (None, None))
        flat.append(row | {"condition": f"{row['set']} / {row['defence']}",
                           "paper": {NO_DEFENCE: reference[0], "diffdefense": reference[1]}.get(row["defence"])})
    return metrics, flat


def table2(rows: list[dict], defence: str = "diffdefense") -> dict:
    """Table 2: per attack, accuracy of A without and with `defence` (white-box on A), and of the
    adversarially trained A_adv under the same attack crafted on it."""
    by_key = {(r["attack"], r["box"], r["evaluated_on"], r["defence"]): r["accuracy"] for r in rows}
    images = {(r["attack"], r["evaluated_on"]): r["images"] for r in rows if r["box"] == "white"}
    table = {}
    for attack in dict.fromkeys(r["attack"] for r in rows if r["box"] == "white" and r["evaluated_on"] == "A"):
        paper = PAPER_TABLE2.get(attack, (None, None, None))
        table[attack] = {"without_defence": by_key.get((attack, "white", "A", NO_DEFENCE)),
                         "with_defence": by_key.get((attack, "white", "A", defence)),
                         "adversarial_training": by_key.get((attack, "white", "A_adv", NO_DEFENCE)),
                         "images": images.get((attack, "A")), "images_adversarial_training": images.get((attack, "A_adv")),
                         "paper": dict(zip(("without_defence", "with_defence", "adversarial_training"), paper))}
    return table


def detection(clean_errors: torch.Tensor, attacked_errors: torch.Tensor, max_fpr: float = 0.05) -> dict:
    """ROC of reconstruction error as an attack detector: attacked images are positives, clean negatives."""
    scores = np.concatenate([clean_errors.numpy(), attacked_errors.numpy()])
    truth = np.concatenate([np.zeros(len(clean_errors)), np.ones(len(attacked_errors))])
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auc": float(roc_auc_score(truth, scores)), "tpr_at_fpr": float(tpr[fpr <= max_fpr].max()),
            "fpr": fpr, "tpr": tpr}
