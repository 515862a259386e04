"""Table 3: Defense-GAN against DiffDefense at several (L, R) on one attacked set, robust accuracy and
seconds per image measured in the same run on the same device: metrics/table3.json, plots/table3.csv."""

import pandas as pd
import torch

from diffdefense import paper
from diffdefense.cli import load_params, run_stage, section
from diffdefense.defences import DefenceContext, build_defence
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_one_of
from diffdefense.evaluation import timed_accuracy
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.models import load_classifier
from diffdefense.pipeline import DEFENDED_CLASSIFIER, MODELS_DIR, SETS_DIR, attack_sets, made_by
from diffdefense.seeding import seed_everything


def main():
    params = load_params()
    cfg = section(params, "table3")
    check_one_of("table3.set", cfg["set"], ["clean", *attack_sets(section(params, "attack"))])
    tensors, _ = load_tensors(SETS_DIR / f"{cfg['set']}.safetensors", made_by(cfg["set"]))
    check_int_range("table3.images", cfg["images"], 1, len(tensors["images"]))
    images, labels = tensors["images"][:cfg["images"]], tensors["labels"][:cfg["images"]]
    device = resolve_device(params["device"])
    seed_everything(0)  # the defences seed per image from their own params; this covers anything else
    ctx = DefenceContext(MODELS_DIR, device, section(params, "defend", "batch_size"), progress=True)
    classifier = load_classifier(DEFENDED_CLASSIFIER, MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors", device)

    dataset, rows = section(params, "data", "dataset"), {}
    for name, row in cfg["rows"].items():
        settings = section(params, "defend", row["defence"]) | {"L": row["L"], "R": row["R"]}
        defence = build_defence(row["defence"], settings, ctx)
        print(f"{row['defence']} L={row['L']} R={row['R']} on {len(images)} images of {cfg['set']}")
        result = timed_accuracy(defence, classifier, images, labels, section(params, "statistics", "confidence"))
        reference = paper.TABLE3.get(dataset, {}).get((row["defence"], row["L"], row["R"]), (None, None))
        rows[name] = row | result | {"paper_seconds_per_image": reference[0], "paper_accuracy": reference[1]}
        print(f"  {result['accuracy']:.2f}% at {result['seconds_per_image']:.3f} s/image")
    write_json("metrics/table3.json", {"set": cfg["set"], "images": len(images), "device": str(device),
                                       "threads": torch.get_num_threads(),
                                       "rows": rows})
    table = pd.DataFrame(rows.values())
    write_csv("plots/table3.csv", table)
    print(table.to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
