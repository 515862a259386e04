"""Purify every evaluation set with one defence: data/defended/<defence>/<set>.safetensors (images and
per-image reconstruction error). Timings go to the sidecar metrics/timing/defend/<defence>.json, so a
rerun with identical results leaves the stages after it up to date. Under `torchrun --nproc-per-node N`
the processes share each set's chunks and rank 0 writes (diffdefense.sharding)."""

import argparse
import time

import torch

from diffdefense.cli import load_params, run_stage, section
from diffdefense.defences import DefenceContext, build_defence, check_defence_settings
from diffdefense.device import resolve_device
from diffdefense.errors import check_one_of
from diffdefense.io import atomic_dir, load_tensors, save_tensors, write_json
from diffdefense.pipeline import DEFENDED_DIR, MODELS_DIR, SETS_DIR, defended_sets, made_by
from diffdefense.seeding import seed_everything
from diffdefense.sharding import is_writer, process_group, rank_and_size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--defence", required=True)
    name = parser.parse_args().defence
    params = load_params()
    cfg = section(params, "defend")
    check_one_of("defend --defence", name, cfg["defences"])
    settings = section(params, "defend", name)
    check_defence_settings(name, settings)  # run on its own too: every setting given, as check_params requires
    ctx = DefenceContext(MODELS_DIR, resolve_device(params["device"]), cfg["batch_size"], progress=is_writer())
    defence = build_defence(name, settings, ctx)  # checks the settings, so seeding below gets a valid seed
    seed_everything(settings.get("seed", 0))  # the defences seed per image too; this covers anything else
    inputs = {s: load_tensors(SETS_DIR / f"{s}.safetensors", made_by(s)) for s in defended_sets(section(params, "attack"))}
    purified, seconds = {}, {}
    with process_group(ctx.device):
        for set_name, (tensors, _) in inputs.items():
            if is_writer():
                print(f"{name}: {set_name} ({len(tensors['images'])} images)")
            start = time.perf_counter()
            purified[set_name] = defence(tensors["images"])
            seconds[set_name] = (time.perf_counter() - start) / len(tensors["images"])
            if is_writer():
                print(f"  {seconds[set_name]:.3f} s/image, mean reconstruction MSE "
                      f"{purified[set_name].recon_error.mean():.4f}")
    if not is_writer():
        return
    with atomic_dir(DEFENDED_DIR / name) as tmp:
        for set_name, result in purified.items():
            save_tensors(tmp / f"{set_name}.safetensors", {"images": result.images, "recon_error": result.recon_error})
    write_json(f"metrics/timing/defend/{name}.json", {"seconds_per_image": seconds, "device": str(ctx.device),
                                                      "threads": torch.get_num_threads(),
                                                      "processes": rank_and_size()[1]})


if __name__ == "__main__":
    run_stage(main)
