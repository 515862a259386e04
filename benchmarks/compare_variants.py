"""Compare DiffDefense variants (and step sizes) on the pipeline's own outputs, to choose the default.

Run after `dvc repro` (it reads models/ and data/sets/):
    python benchmarks/compare_variants.py --images 100 --config code:0.02 --config paper:100 --config paper:400
Each --config is VARIANT:LR; the other settings come from params.yaml (defend.diffdefense).
Prints accuracy of classifier A on each set after the defence, the mean reconstruction MSE and s/image.
"""

import argparse
import time

import pandas as pd
import torch

from diffdefense.cli import load_params
from diffdefense.defences import DiffDefense
from diffdefense.evaluation import accuracy
from diffdefense.io import load_tensors
from diffdefense.models import load_classifier, load_ddpm
from diffdefense.pipeline import MODELS_DIR, SETS_DIR


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100, help="first N images of each set")
    parser.add_argument("--sets", nargs="+", default=["clean", "fgsm-white", "pgd-white", "deepfool-white"])
    parser.add_argument("--config", action="append", required=True, help="VARIANT:LR, e.g. code:0.02")
    args = parser.parse_args()
    settings = load_params()["defend"]["diffdefense"]
    classifier = load_classifier("A", MODELS_DIR / "classifier_A.safetensors")
    unet, schedule = load_ddpm(MODELS_DIR / "ddpm.safetensors")
    sets = {s: load_tensors(SETS_DIR / f"{s}.safetensors")[0] for s in args.sets}
    rows = []
    for config in args.config:
        variant, lr = config.split(":")
        defence = DiffDefense(unet, schedule, batch_size=50, **(settings | {"variant": variant, "lr": float(lr)}))
        for name, tensors in sets.items():
            images, labels = tensors["images"][:args.images], tensors["labels"][:args.images]
            start = time.perf_counter()
            out = defence(images)
            rows.append({"variant": variant, "lr": float(lr), "set": name,
                         "accuracy": accuracy(classifier, out.images, labels),
                         "recon_mse": out.recon_error.mean().item(),
                         "s_per_image": (time.perf_counter() - start) / len(images)})
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
