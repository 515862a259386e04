"""Train a classifier (params train_classifier.<name>) on the training split. With an `adversarial`
entry ({attack: <registry name>, ...settings}) each batch is replaced by adversarial examples made on
the fly against the model being trained (adversarial training)."""

import argparse

import torch

from diffdefense.attacks import build_attack
from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, training_split
from diffdefense.device import resolve_device
from diffdefense.evaluation import correct
from diffdefense.models import build_classifier, save_weights
from diffdefense.seeding import seed_everything
from diffdefense.statistics import summarise
from diffdefense.training import CLASSIFIER_RECIPE, train_classifier
from diffdefense.training_log import TrainingLog


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    name = parser.parse_args().name
    params = load_params()
    cfg, data = section(params, "train_classifier", name), section(params, "data")
    recipe = CLASSIFIER_RECIPE.resolve(cfg, f"train_classifier.{name}")
    device = resolve_device(params["device"])
    images, labels = training_split("data/raw", data)
    seed_everything(cfg["seed"])  # before the weights are initialised
    model = build_classifier(name, tuple(images.shape[1:]))
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    adversarial = dict(cfg.get("adversarial") or {})
    perturb = robust_accuracy = None
    if adversarial:
        attack_name = adversarial.pop("attack", None)

        section_name = f"train_classifier.{name}.adversarial"

        def perturb(model, x, y):
            return build_attack(attack_name, model, adversarial, section_name)(x, y)

        build_attack(attack_name, model, adversarial, section_name)  # bad settings fail before training starts
        if recipe.robust_check:
            check = slice(0, recipe.robust_check)
            guard = {"eps": adversarial["eps"], "step": adversarial["eps"] / 8, "steps": 20, "restarts": 1}

            def robust_accuracy(model):
                x, y = images[check].to(device), labels[check].to(device)
                return 100.0 * float(correct(model, build_attack("pgd", model, guard, section_name)(x, y), y,
                                             device=device).float().mean())
    with TrainingLog(f"metrics/train_classifier_{name}") as log:
        history = train_classifier(model, images, labels, test_images, test_labels,
                                   epochs=recipe.epochs, lr=recipe.lr, momentum=recipe.momentum,
                                   batch_size=recipe.batch_size, seed=recipe.seed, device=device, perturb=perturb,
                                   schedule=recipe.schedule, optimizer=recipe.optimizer,
                                   robust_accuracy=robust_accuracy, on_epoch=log.epoch)
        save_weights(model, f"models/classifier_{name}.safetensors")
        test = correct(model, test_images, test_labels, device=device)
        log.finish(test=summarise(test, section(params, "statistics", "confidence")), threads=torch.get_num_threads())
    print(f"classifier {name}: test accuracy {100 * float(test.float().mean()):.2f}% after {len(history)} epochs")


if __name__ == "__main__":
    run_stage(main)
