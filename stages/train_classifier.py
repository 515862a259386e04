"""Train a classifier (params train_classifier.<name>) on the training split. With an `adversarial`
entry ({attack: <registry name>, ...settings}) each batch is replaced by adversarial examples made on
the fly against the model being trained (adversarial training). The recipe is diffdefense.training's
fit_classifier; its settings were checked by check_params before any stage ran."""

import argparse

import torch

from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, training_split
from diffdefense.device import resolve_device
from diffdefense.evaluation import correct
from diffdefense.models import save_weights
from diffdefense.statistics import summarise
from diffdefense.training import fit_classifier
from diffdefense.training_log import TrainingLog


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    name = parser.parse_args().name
    params = load_params()
    cfg, data = section(params, "train_classifier", name), section(params, "data")
    device = resolve_device(params["device"])
    images, labels = training_split("data/raw", data)
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    with TrainingLog(f"metrics/train_classifier_{name}") as log:
        model, history = fit_classifier(name, cfg, images, labels, test_images, test_labels, device,
                                        where=f"train_classifier.{name}", on_epoch=log.epoch)
        save_weights(model, f"models/classifier_{name}.safetensors")
        test = correct(model, test_images, test_labels, device=device)
        log.finish(test=summarise(test, section(params, "statistics", "confidence")), threads=torch.get_num_threads())
    print(f"classifier {name}: test accuracy {100 * float(test.float().mean()):.2f}% after {len(history)} epochs")


if __name__ == "__main__":
    run_stage(main)
