"""Craft adversarial examples of the clean test subset: data/sets/<attack>-<box>.safetensors.

White-box attacks are crafted on classifier A, black-box ones on the substitute B (and later fed to A).
"""

import argparse
import time

import torch
from tqdm.auto import tqdm

from diffdefense.attacks import build_attack
from diffdefense.cli import load_params, run_stage, section
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_one_of
from diffdefense.evaluation import accuracy
from diffdefense.io import load_tensors, save_tensors
from diffdefense.models import load_classifier
from diffdefense.pipeline import BOXES, MODELS_DIR, SETS_DIR


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--attack", required=True)
    parser.add_argument("--box", required=True)
    args = parser.parse_args()
    params = load_params()
    cfg = section(params, "attack")
    check_one_of("attack box", args.box, BOXES)
    check_int_range("attack.batch_size", cfg["batch_size"], 1)
    device = resolve_device(params.get("device", "auto"))
    source = BOXES[args.box]
    model = load_classifier(source, MODELS_DIR / f"classifier_{source}.safetensors", device)
    attack = build_attack(args.attack, model, section(params, "attack", "settings", args.attack))
    clean, meta = load_tensors(SETS_DIR / "clean.safetensors", "testset")
    images, labels = clean["images"], clean["labels"]

    torch.manual_seed(cfg["seed"])
    start, adversarial = time.perf_counter(), []
    for i in tqdm(range(0, len(images), cfg["batch_size"]), desc=f"{args.attack} ({args.box}-box on {source})",
                  unit="batch"):
        adversarial.append(attack(images[i:i + cfg["batch_size"]].to(device),
                                  labels[i:i + cfg["batch_size"]].to(device)).detach().cpu())
    seconds = (time.perf_counter() - start) / len(images)
    adversarial = torch.cat(adversarial)
    source_accuracy = accuracy(model, adversarial, labels)
    save_tensors(SETS_DIR / f"{args.attack}-{args.box}.safetensors", {"images": adversarial, "labels": labels},
                 meta | {"attack": args.attack, "box": args.box, "source_classifier": source,
                         "seconds_per_image": seconds, "source_accuracy": source_accuracy,
                         "linf_median": (adversarial - images).flatten(1).abs().amax(1).median().item()})
    print(f"{args.attack}-{args.box}: accuracy of {source} {source_accuracy:.2f}%, {seconds * 1000:.1f} ms/image")


if __name__ == "__main__":
    run_stage(main)
