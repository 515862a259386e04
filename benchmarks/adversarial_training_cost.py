"""Benchmark: what each adversarial-training recipe costs on this machine, per batch, per epoch and in all.

Each recipe (a params file's train_classifier.<name>, trained by the pipeline's own `fit_classifier`) is timed
on its first --batches batches of the training split (after two untimed ones), one epoch, no overfitting
guard, in each --precisions;
seconds per batch are scaled to the recipe's epochs over the whole split. Prints a table and writes
--out/adversarial_training_cost.json.

    python benchmarks/adversarial_training_cost.py --recipe params.yaml:A_pgd --recipe profiles/paper.yaml:A_pgd \\
        --out results/adversarial-training-cost

Reads data/raw/ of the current directory (run `dvc repro download` first).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import yaml

from diffdefense.data import load_split, training_split
from diffdefense.training import fit_classifier


def cost(params: dict, name: str, batches: int, precision: str, device: torch.device, images: torch.Tensor,
         labels: torch.Tensor, test_images: torch.Tensor, test_labels: torch.Tensor) -> dict:
    """Seconds per batch of recipe train_classifier.`name` over its first `batches` batches of `images`, and
    what its whole training would take at that rate."""
    cfg = params["train_classifier"][name] | {"epochs": 1, "robust_check": 0}

    def train(count):
        fit_classifier(name, cfg, images[:count], labels[:count], test_images[:100], test_labels[:100], device,
                       where=f"train_classifier.{name}", precision=precision)

    train(2 * cfg["batch_size"])  # warm-up: the first calls of a precision pay one-time set-up
    start = time.perf_counter()
    train(batches * cfg["batch_size"])
    per_batch = (time.perf_counter() - start) / batches
    epoch = per_batch * math.ceil(len(images) / cfg["batch_size"])
    epochs = params["train_classifier"][name]["epochs"]
    return {"batches_timed": batches, "seconds_per_batch": round(per_batch, 3), "minutes_per_epoch": round(epoch / 60, 1),
            "epochs": epochs, "hours_in_all": round(epoch * epochs / 3600, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", action="append", required=True, help="<params file>:<train_classifier entry>")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = torch.device("cpu")
    recipes = {}
    for recipe in args.recipe:
        file, _, name = recipe.rpartition(":")
        params = yaml.safe_load(Path(file).read_text())
        if name not in params.get("train_classifier", {}):
            raise SystemExit(f"--recipe {recipe}: {file} has no train_classifier.{name}")
        recipes[recipe] = params
    result = {"threads": torch.get_num_threads(), "recipes": {}}
    for recipe, params in recipes.items():
        name = recipe.rpartition(":")[2]
        result["recipes"][recipe] = {"recipe": params["train_classifier"][name]}
        data = params["data"]  # read once a recipe, not once a precision
        split = (*training_split("data/raw", data), *load_split("data/raw", data["dataset"], "test"))
        for precision in args.precisions:
            result["recipes"][recipe][precision] = cost(params, name, args.batches, precision, device, *split)
            print(f"{recipe} {precision}: {result['recipes'][recipe][precision]}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "adversarial_training_cost.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
