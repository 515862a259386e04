"""Craft adversarial examples of the clean test subset: data/sets/<set>.safetensors.

Params attack.sets name each set's attack, the classifier it is crafted on and the one it is fed to.
The set keeps, per image, whether it fooled the crafting classifier (`fooled_when_crafted`, scored the
way `evaluate` scores it), so boundary-fragile sets show up. The timing goes to a sidecar,
metrics/timing/attack/<set>.json, which no later stage but the report reads. Each batch of
`attack.batch_size` images seeds the random generators from (attack.seed, batch index), so under
`torchrun --nproc-per-node N` the processes share the batches and rank 0 writes the same file one process
would (diffdefense.sharding).
"""

import argparse
import math
import time

import torch

from diffdefense.attacks import build_attack
from diffdefense.cli import load_params, run_stage, section
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_one_of
from diffdefense.evaluation import correct
from diffdefense.io import load_tensors, save_tensors, write_json
from diffdefense.models import load_classifier
from diffdefense.pipeline import MODELS_DIR, SETS_DIR, attack_sets
from diffdefense.progress import progress
from diffdefense.seeding import derived_seed, seed_everything
from diffdefense.sharding import is_writer, map_chunks, process_group, rank_and_size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", required=True, help="a key of params attack.sets")
    set_name = parser.parse_args().set
    params = load_params()
    cfg = section(params, "attack")
    sets = attack_sets(cfg)
    check_one_of("attack set", set_name, sets)
    spec = sets[set_name]
    device = resolve_device(params["device"])
    seed_everything(cfg["seed"])  # before building anything; each batch re-seeds (below)
    source = spec.crafted_on
    model = load_classifier(source, MODELS_DIR / f"classifier_{source}.safetensors", device)
    attack = build_attack(spec.attack, model, section(params, "attack", "settings", spec.attack))
    clean, meta = load_tensors(SETS_DIR / "clean.safetensors", "testset")
    check_int_range(f"attack.sets.{set_name}.images", spec.images, 0, len(clean["images"]))
    count = spec.images or len(clean["images"])
    images, labels = clean["images"][:count], clean["labels"][:count]

    batch = cfg["batch_size"]
    bar = progress(total=math.ceil(len(images) / batch), desc=f"{set_name} (crafted on {source})", unit="batch",
                   disable=not is_writer())

    def attack_batch(first: int) -> torch.Tensor:
        seed_everything(derived_seed(cfg["seed"], first // batch))  # the batch's randomness, whoever runs it
        adversarial = attack(images[first:first + batch].to(device), labels[first:first + batch].to(device))
        bar.update()
        return adversarial.detach().cpu()

    start = time.perf_counter()
    with process_group(device):
        adversarial = torch.cat(map_chunks(attack_batch, range(0, len(images), batch)))
    bar.close()
    seconds = (time.perf_counter() - start) / len(images)
    if not is_writer():
        return
    fooled = ~correct(model, adversarial, labels)
    save_tensors(SETS_DIR / f"{set_name}.safetensors",
                 {"images": adversarial, "labels": labels, "fooled_when_crafted": fooled},
                 meta | {"attack": spec.attack, "crafted_on": source, "evaluated_on": spec.evaluated_on,
                         "linf_median": (adversarial - images).flatten(1).abs().amax(1).median().item()})
    write_json(f"metrics/timing/attack/{set_name}.json", {"seconds_per_image": seconds, "device": str(device),
                                                          "threads": torch.get_num_threads(),
                                                          "processes": rank_and_size()[1]})
    print(f"{set_name}: accuracy of {source} {100 - 100 * fooled.float().mean():.2f}%, {seconds * 1000:.1f} ms/image")


if __name__ == "__main__":
    run_stage(main)
