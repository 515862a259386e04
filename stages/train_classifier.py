"""Train a classifier (params train_classifier.<name>) on the training split. With an `adversarial`
entry ({attack: <registry name>, ...settings}) each batch is replaced by adversarial examples made on
the fly against the model being trained (adversarial training)."""

import argparse

import pandas as pd
import torch

from diffdefense.attacks import build_attack
from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, subset
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_positive
from diffdefense.io import write_csv, write_json
from diffdefense.models import build_classifier, save_weights
from diffdefense.training import train_classifier


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    name = parser.parse_args().name
    params = load_params()
    model = build_classifier(name)
    cfg, data = section(params, "train_classifier", name), section(params, "data")
    check_int_range(f"train_classifier.{name}.epochs", cfg["epochs"], 1)
    check_int_range(f"train_classifier.{name}.batch_size", cfg["batch_size"], 1)
    check_positive(f"train_classifier.{name}.lr", cfg["lr"])
    check_int_range("data.train_size", data["train_size"], 0)
    images, labels = load_split("data/raw", data["dataset"], "train")
    idx = subset(len(images), data["train_size"], data["seed"])
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    adversarial = dict(cfg.get("adversarial") or {})
    perturb = None
    if adversarial:
        attack_name = adversarial.pop("attack", None)

        def perturb(model, x, y):
            return build_attack(attack_name, model, adversarial)(x, y)

        build_attack(attack_name, model, adversarial)  # bad settings fail before training starts
    history = train_classifier(model, images[idx], labels[idx], test_images, test_labels,
                               epochs=cfg["epochs"], lr=cfg["lr"], momentum=cfg["momentum"],
                               batch_size=cfg["batch_size"], seed=cfg["seed"],
                               device=resolve_device(params.get("device", "auto")), perturb=perturb)
    save_weights(model, f"models/classifier_{name}.safetensors")
    write_csv(f"plots/train_classifier_{name}.csv", pd.DataFrame(history))
    write_json(f"metrics/train_classifier_{name}.json", history[-1] | {"threads": torch.get_num_threads()})
    print(f"classifier {name}: test accuracy {history[-1]['test_accuracy']:.2f}%")


if __name__ == "__main__":
    run_stage(main)
