"""Table 3: Defense-GAN against DiffDefense at several (L, R) on one attacked set and on the clean images it
was made from (the same test images), robust and clean accuracy and seconds per image measured in the same
run on the same device: metrics/table3.json, plots/table3.csv (one line per row and set)."""

import pandas as pd
import torch

from diffdefense import paper
from diffdefense.cli import load_params, run_stage, section
from diffdefense.defences import DefenceContext, build_defence
from diffdefense.device import resolve_device
from diffdefense.errors import UsageError, check_int_range, check_one_of
from diffdefense.evaluation import confident, timed_accuracy
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.models import load_classifier, load_ddpm
from diffdefense.pipeline import DEFENDED_CLASSIFIER, MODELS_DIR, SETS_DIR, attack_sets, made_by
from diffdefense.seeding import seed_everything
from diffdefense.statistics import summarise

GENERATOR_SAMPLES = 500  # samples of Defense-GAN's generator and of the DDPM that classifier A is asked to recognise


def first_images(set_name: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` images and labels of evaluation set `set_name`."""
    tensors, _ = load_tensors(SETS_DIR / f"{set_name}.safetensors", made_by(set_name))
    check_int_range("table3.images", count, 1, len(tensors["images"]))
    return tensors["images"][:count], tensors["labels"][:count]


def main():
    params = load_params()
    cfg = section(params, "table3")
    check_one_of("table3.set", cfg["set"], ["clean", *attack_sets(section(params, "attack"))])
    sets = {cfg["set"]: first_images(cfg["set"], cfg["images"])}
    if cfg["set"] != "clean":  # an attack set holds the first test images of the clean set, in order
        sets["clean"] = first_images("clean", cfg["images"])
        if not torch.equal(sets["clean"][1], sets[cfg["set"]][1]):
            raise UsageError(f"table3.set={cfg['set']!r} does not hold the first clean test images; rerun its attack")
    device = resolve_device(params["device"])
    seed_everything(0)  # the defences seed per image from their own params; this covers anything else
    ctx = DefenceContext(MODELS_DIR, device, section(params, "defend", "batch_size"), progress=True)
    classifier = load_classifier(DEFENDED_CLASSIFIER, MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors", device)
    confidence = section(params, "statistics", "confidence")

    dataset, rows, lines, generator = section(params, "data", "dataset"), {}, [], None
    for name, row in cfg["rows"].items():
        settings = section(params, "defend", row["defence"]) | {"L": row["L"], "R": row["R"]}
        defence = build_defence(row["defence"], settings, ctx)
        if row["defence"] == "defencegan":
            generator = defence.network  # the report names its architecture
        reference = paper.TABLE3.get(dataset, {}).get((row["defence"], row["L"], row["R"]), (None, None))
        paper_row = {"paper_seconds_per_image": reference[0], "paper_accuracy": reference[1]}
        results = {}
        for set_name, (images, labels) in sets.items():
            print(f"{row['defence']} L={row['L']} R={row['R']} on {len(images)} images of {set_name}")
            results[set_name] = timed_accuracy(defence, classifier, images, labels, confidence)
            print(f"  {results[set_name]['accuracy']:.2f}% at {results[set_name]['seconds_per_image']:.3f} s/image")
            # the paper's Table 3 is on FGSM images: its numbers go beside the attacked set's line only
            lines.append(row | {"set": set_name} | results[set_name]
                         | (paper_row if set_name == cfg["set"] else dict.fromkeys(paper_row)))
        rows[name] = row | results.pop(cfg["set"]) | paper_row | ({"clean": results["clean"]} if results else {})
    described = {}
    if generator is not None:  # how digit-like its samples are, measured: A's confidence on them and on real images
        z = torch.randn(GENERATOR_SAMPLES, generator.latent_dim, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            samples = generator(z.to(device)).cpu()
        described = {"generator": {"architecture": generator.architecture, "latent_dim": generator.latent_dim,
                                   "width": generator.width,
                                   "samples_confident": summarise(confident(classifier, samples), confidence),
                                   "clean_confident": summarise(confident(classifier, sets["clean"][0]), confidence)}}
    # the DDPM that DiffDefense reconstructs with, judged the same way: its full reverse process from noise
    unet, schedule = load_ddpm(MODELS_DIR / "ddpm.safetensors", device)
    unet.eval()
    ddpm_samples = torch.cat([schedule.sample(unet, (100, *unet.image_shape), torch.Generator().manual_seed(seed), device)
                              for seed in range(GENERATOR_SAMPLES // 100)]).cpu()
    described["ddpm"] = {"timesteps": schedule.num_steps,
                         "samples_confident": summarise(confident(classifier, ddpm_samples), confidence)}
    write_json("metrics/table3.json", {"set": cfg["set"], "images": cfg["images"], "device": str(device),
                                       "threads": torch.get_num_threads(), "rows": rows} | described)
    table = pd.DataFrame(lines)
    write_csv("plots/table3.csv", table)
    print(table.to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
