"""Benchmark: does bf16 autocast hold for training and for the surrogate attacks' gradients, and does it pay?

Paired, in one run on one machine: each chosen classifier trained twice by its params.yaml recipe (the
pipeline's `fit_classifier`, same seed), in fp32 and in bf16, with test accuracy on the whole test split
(Wilson interval, and whether bf16's lies inside fp32's interval) and seconds per epoch; the DDPM trained
twice by train_ddpm, with its held-out epsilon-MSE (bf16 within 2 % of fp32?); and each surrogate attack of
adaptive.surrogate run in fp32 and bf16 on the same images against a run's trained classifiers (images
fooled by each, the difference per thousand, seconds). Prints a table and writes --out/bf16.json.

    nice -n 10 python benchmarks/bf16_training.py --out results/bf16-training                  # everything
    python benchmarks/bf16_training.py --classifiers A_pgd --fp32-models models --robustness 1000 --no-ddpm \
        --attack-images 0 --out results/bf16-robustness     # is a bf16-trained A_pgd as robust?
    python benchmarks/bf16_training.py --classifiers A --no-ddpm --epochs 1 --out /tmp/bf16  # a quick look

Reads params.yaml and data/raw/ of the current directory (run `dvc repro download` first) and, for the
attacks, --models (trained classifiers, default models/) with --attack-images of the verdict's images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

from diffdefense.adaptive import evaluation_images
from diffdefense.data import load_split, training_split
from diffdefense.errors import UsageError
from diffdefense.evaluation import correct
from diffdefense.models import load_classifier
from diffdefense.protocol import surrogate_attacks
from diffdefense.seeding import seed_everything
from diffdefense.statistics import mcnemar, outside, summarise
from diffdefense.training import fit_classifier, held_out_eps_mse, new_ddpm, train_ddpm

PRECISIONS = ("fp32", "bf16")


def classifiers(params: dict, names: list[str], epochs: int | None, device: torch.device,
                fp32_models: Path | None = None, robustness: int = 0) -> dict:
    """Each classifier trained in fp32 and in bf16: test accuracy, seconds per epoch, bf16 inside fp32's
    interval. `fp32_models`: a default run's models/ stand in for the fp32 training (same recipe, same seed).
    `robustness`: each robustly trained one (adaptive.robust_classifiers) also meets its surrogate attacks on
    that many verdict images, both models on the same images, with the exact McNemar test between them."""
    data = params["data"]
    images, labels = training_split("data/raw", data)
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    verdict_images = evaluation_images(test_images, test_labels, robustness, data["seed"]) if robustness else None
    out = {}
    for name in names:
        cfg = params["train_classifier"][name] | ({"epochs": epochs} if epochs else {})
        out[name], robust = {}, {}
        for precision in PRECISIONS:
            if precision == "fp32" and fp32_models:
                model = load_classifier(name, fp32_models / f"classifier_{name}.safetensors", device)
                out[name][precision] = {"trained_by": str(fp32_models / f"classifier_{name}.safetensors")}
            else:
                start = time.perf_counter()
                model, history = fit_classifier(name, cfg, images, labels, test_images, test_labels, device,
                                                where=f"train_classifier.{name}", precision=precision)
                out[name][precision] = {"epochs": len(history),
                                        "seconds_per_epoch": round((time.perf_counter() - start) / len(history), 1)}
            out[name][precision]["test"] = summarise(correct(model, test_images, test_labels, device=device))
            if robustness and name in params["adaptive"]["robust_classifiers"]:
                robust[precision] = robust_to_surrogates(params, model, name, *verdict_images, device)
                out[name][precision]["robust_to_surrogates"] = summarise(robust[precision])
            print(f"{name} {precision}: {out[name][precision]}", flush=True)
        fp32, bf16 = out[name]["fp32"], out[name]["bf16"]
        out[name]["bf16_inside_fp32_interval"] = not outside(bf16["test"]["accuracy"], fp32["test"])
        if "seconds_per_epoch" in fp32:
            out[name]["speed_ratio"] = round(fp32["seconds_per_epoch"] / bf16["seconds_per_epoch"], 2)
        if robust:
            out[name]["robust_bf16_inside_fp32_interval"] = not outside(bf16["robust_to_surrogates"]["accuracy"],
                                                                        fp32["robust_to_surrogates"])
            out[name]["robust_bf16_vs_fp32"] = mcnemar(robust["bf16"], robust["fp32"])
    return out


def robust_to_surrogates(params: dict, model: torch.nn.Module, name: str, images: torch.Tensor, labels: torch.Tensor,
                         device: torch.device) -> torch.Tensor:
    """Per image: is `model` right under every surrogate attack the adaptive stage runs on classifier `name`
    (adaptive.surrogate, seeded as the stage seeds them)?"""
    cfg = params["adaptive"]
    images, labels = images.to(device), labels.to(device)
    seed_everything(cfg["attack"]["seed"])
    robust = correct(model, images, labels, device=device).cpu()
    for attack in surrogate_attacks(cfg["surrogate"], model, name, ["A"] + cfg["robust_classifiers"]).values():
        robust &= correct(model, attack(images, labels), labels, device=device).cpu()
    return robust


def ddpm(params: dict, epochs: int | None, device: torch.device) -> dict:
    """The DDPM trained in fp32 and in bf16: held-out epsilon-MSE, seconds per epoch, their ratios."""
    cfg, data = params["train_ddpm"], params["data"]
    images, _ = training_split("data/raw", data)
    test_images, _ = load_split("data/raw", data["dataset"], "test")
    out = {}
    for precision in PRECISIONS:
        recipe, schedule, unet = new_ddpm(cfg, tuple(images.shape[1:]), **({"epochs": epochs} if epochs else {}))
        start = time.perf_counter()
        history = train_ddpm(unet, schedule, images, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                             seed=recipe.seed, device=device, precision=precision)
        seconds = time.perf_counter() - start
        out[precision] = {"held_out_eps_mse": round(held_out_eps_mse(unet.cpu(), schedule, test_images, seed=recipe.seed), 5),
                          "epochs": len(history), "seconds_per_epoch": round(seconds / len(history), 1)}
        print(f"DDPM {precision}: {out[precision]}", flush=True)
    out["relative_mse_change"] = round(out["bf16"]["held_out_eps_mse"] / out["fp32"]["held_out_eps_mse"] - 1, 4)
    out["speed_ratio"] = round(out["fp32"]["seconds_per_epoch"] / out["bf16"]["seconds_per_epoch"], 2)
    return out


def attacks(params: dict, models: dict[str, torch.nn.Module], count: int, device: torch.device) -> dict:
    """Each surrogate on each classifier of `models` (name -> trained classifier), fp32 and bf16, on the first
    `count` verdict images: images fooled by each, by one only (per thousand), and the speed ratio."""
    cfg, data = params["adaptive"], params["data"]
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    images, labels = evaluation_images(test_images, test_labels, count, data["seed"])
    out = {}
    for name, classifier in models.items():
        fooled, seconds = {}, {}
        for precision in PRECISIONS:
            surrogate = {k: v | {"precision": precision} for k, v in cfg["surrogate"].items()}
            seed_everything(cfg["attack"]["seed"])
            for attack, built in surrogate_attacks(surrogate, classifier, name, ["A"] + cfg["robust_classifiers"]).items():
                start = time.perf_counter()
                adversarial = built(images.to(device), labels.to(device))
                seconds[attack, precision] = time.perf_counter() - start
                fooled[attack, precision] = ~correct(classifier, adversarial, labels.to(device), device=device).cpu()
        for attack in {a for a, _ in fooled}:
            a, b = fooled[attack, "fp32"], fooled[attack, "bf16"]
            out[f"{name}/{attack}"] = {"images": count, "fooled_fp32": int(a.sum()), "fooled_bf16": int(b.sum()),
                                       "fooled_by_one_only_per_thousand": round(1000 * float((a ^ b).float().mean()), 1),
                                       "speed_ratio": round(seconds[attack, "fp32"] / seconds[attack, "bf16"], 2)}
            print(f"{name}/{attack}: {out[f'{name}/{attack}']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifiers", nargs="*", help="train_classifier entries to train (default: all)")
    parser.add_argument("--epochs", type=int, help="epochs instead of each recipe's (a quick look, not the evidence)")
    parser.add_argument("--no-ddpm", action="store_true")
    parser.add_argument("--models", default="models", help="trained classifiers for the attacks")
    parser.add_argument("--attack-images", type=int, default=1000, help="verdict images attacked (0: no attacks)")
    parser.add_argument("--fp32-models", type=Path, help="a default run's models/: its classifiers stand in for "
                        "the fp32 training (the same recipe and seed), so only bf16 is trained")
    parser.add_argument("--robustness", type=int, default=0, help="verdict images on which each robustly "
                        "trained classifier meets its surrogate attacks, fp32 and bf16 models (0: none)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())
    device = torch.device("cpu")
    names = params["train_classifier"] if args.classifiers is None else args.classifiers
    unknown = sorted(set(names) - set(params["train_classifier"]))
    if unknown:
        raise SystemExit(f"--classifiers: {unknown} are not in train_classifier {sorted(params['train_classifier'])}")
    # the attacks' models, loaded before any training is spent (a missing one is load_classifier's error)
    attack_models = {name: load_classifier(name, Path(args.models) / f"classifier_{name}.safetensors", device)
                     for name in ["A"] + params["adaptive"]["robust_classifiers"]} if args.attack_images else {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"threads": torch.get_num_threads(), "epochs_override": args.epochs}

    def write(part, value):  # after each part: a stopped run keeps what it measured
        result[part] = value
        (out / "bf16.json").write_text(json.dumps(result, indent=1) + "\n")

    write("classifiers", classifiers(params, list(names), args.epochs, device, args.fp32_models, args.robustness))
    if not args.no_ddpm:
        write("ddpm", ddpm(params, args.epochs, device))
    if args.attack_images:
        write("attacks", attacks(params, attack_models, args.attack_images, device))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    try:
        main()
    except UsageError as exc:
        sys.exit(f"error: {exc}")
