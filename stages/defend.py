"""Purify every evaluation set with one defence: data/defended/<defence>/<set>.safetensors."""

import argparse
import time

import torch

from diffdefense.cli import load_params, run_stage, section
from diffdefense.defences import DEFENCES, DefenceContext, build_defence
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_one_of
from diffdefense.io import atomic_dir, load_tensors, save_tensors
from diffdefense.pipeline import DEFENDED_DIR, MODELS_DIR, SETS_DIR, defended_sets, made_by


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--defence", required=True)
    name = parser.parse_args().defence
    params = load_params()
    cfg = section(params, "defend")
    check_one_of("defend.defences", name, DEFENCES)
    check_int_range("defend.batch_size", cfg["batch_size"], 1)
    ctx = DefenceContext(MODELS_DIR, resolve_device(params.get("device", "auto")), cfg["batch_size"], progress=True)
    defence = build_defence(name, section(params, "defend", name), ctx)
    inputs = {s: load_tensors(SETS_DIR / f"{s}.safetensors", made_by(s)) for s in defended_sets(section(params, "attack"))}

    with atomic_dir(DEFENDED_DIR / name) as tmp:
        for set_name, (tensors, _) in inputs.items():
            print(f"{name}: {set_name} ({len(tensors['images'])} images)")
            start = time.perf_counter()
            purified = defence(tensors["images"])
            seconds = (time.perf_counter() - start) / len(tensors["images"])
            save_tensors(tmp / f"{set_name}.safetensors",
                         {"images": purified.images, "recon_error": purified.recon_error},
                         {"seconds_per_image": seconds, "device": str(ctx.device),
                          "threads": torch.get_num_threads()})
            print(f"  {seconds:.3f} s/image, mean reconstruction MSE {purified.recon_error.mean():.4f}")


if __name__ == "__main__":
    run_stage(main)
