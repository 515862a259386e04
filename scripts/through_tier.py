"""Are the surrogates strong enough? The adaptive stage's attacks through the defence (BPDA + EOT PGD, the
full gradient where a defence allows it, the detector-aware attack) on the first --images of a default
run's verdict images, instead of its adaptive.through_images, with the run's own surrogate adversarials
(data/adaptive/surrogates.safetensors: they never call a defence) scored beside them, so each row's two
tiers are compared image by image (exact McNemar, `surrogates_vs_through` in the subset metrics).

    nice -n 10 python scripts/through_tier.py --run <a default run's checkout> --images 100 --out results/through-tier-100

--run holds params.yaml, models/, data/raw/ and data/adaptive/ of a default `dvc repro`. Writes, as the
adaptive stage does, --out/metrics/adaptive.json, --out/metrics/timing/adaptive.json and
--out/plots/adaptive.csv, and --out/params.yaml: the run's params with adaptive.through_images set to
--images (the report reads the folder as the run's subset tier when nothing else differs)."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pandas as pd
import torch
import yaml

from diffdefense.adaptive import evaluation_images
from diffdefense.data import load_split
from diffdefense.errors import UsageError, check_int_range
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.protocol import Detection, adaptive_evaluation, verdict_rows
from diffdefense.seeding import seed_everything


def saved_surrogates(path: Path, count: int | None) -> tuple[torch.Tensor, torch.Tensor, dict[str, dict[str, torch.Tensor]]]:
    """The adaptive stage's saved clean images, labels and surrogate adversarials (classifier -> surrogate ->
    images), the first `count` of each (all with None)."""
    saved, _ = load_tensors(path, "adaptive")
    adversarials = {}
    for key, images in saved.items():
        if "/" in key:
            classifier, attack = key.split("/", 1)
            adversarials.setdefault(classifier, {})[attack] = images[:count]
    return saved["clean"][:count], saved["labels"][:count], adversarials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a default run's checkout (params.yaml, models/, data/)")
    parser.add_argument("--images", type=int, default=100, help="the first N verdict images (default 100)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, help="attack steps instead of adaptive.attack.steps (a quick check)")
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    params = yaml.safe_load((run / "params.yaml").read_text())
    cfg, data = params["adaptive"], params["data"]
    check_int_range("--images", args.images, 1, cfg["images"])
    detection = cfg["detection"]
    images, labels, adversarials = saved_surrogates(run / "data" / "adaptive" / "surrogates.safetensors", args.images)
    test_images, test_labels = load_split(run / "data" / "raw", data["dataset"], "test")
    drawn, drawn_labels = evaluation_images(test_images, test_labels, cfg["images"] + detection["calibration_images"],
                                            data["seed"])
    if not (torch.equal(drawn[:args.images], images) and torch.equal(drawn_labels[:args.images], labels)):
        raise UsageError(f"{run}/data/adaptive/surrogates.safetensors does not hold this params.yaml's verdict images")
    attack = cfg["attack"] | ({"steps": args.steps} if args.steps else {})
    device = torch.device("cpu")
    seed_everything(attack["seed"])
    classifiers, rows = verdict_rows(params, run / "models", device)
    result = adaptive_evaluation(
        classifiers, rows, images, labels, surrogate=cfg["surrogate"], attack=attack,
        full_gradient=cfg["full_gradient"], through_images=args.images, evaluation_draws=cfg["evaluation_draws"],
        fixed_seed=cfg["fixed_seed"],
        detection=Detection(drawn[cfg["images"]:], detection["false_positive_rate"], detection["aware_rows"],
                            params["statistics"]["bootstrap_resamples"], params["statistics"]["seed"]),
        confidence=params["statistics"]["confidence"], device=device, progress_bar=True, adversarials=adversarials)
    written = copy.deepcopy(params)
    written["adaptive"]["through_images"] = args.images
    if args.steps:
        written["adaptive"]["attack"]["steps"] = args.steps
    write_json(out / "metrics" / "adaptive.json", {"classifier": "A"} | result.metrics
               | {"threads": torch.get_num_threads(), "surrogates_from": str(run / "data/adaptive/surrogates.safetensors")})
    write_csv(out / "plots" / "adaptive.csv", pd.DataFrame(result.rows))
    write_json(out / "metrics" / "timing" / "adaptive.json", {"seconds_per_image": result.seconds_per_image})
    (out / "params.yaml").write_text(yaml.safe_dump(written, sort_keys=False))


if __name__ == "__main__":
    main()
