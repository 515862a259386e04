"""Does a defence hold against an attacker who knows it, and does its detector? Each defence in
adaptive.defences with classifier A behind it, and each robustly trained classifier in
adaptive.robust_classifiers on its own, as rows of diffdefense.protocol.adaptive_evaluation (the two-tier
protocol, callable from Python on any classifier and defence): surrogate attacks on all `adaptive.images`
test images (drawn from the test split on their own, whatever data.test_size is), attacks through the
defence on the first `adaptive.through_images`, every image scored under `adaptive.evaluation_draws` fresh
draws, the reconstruction-error detector calibrated on `adaptive.detection.calibration_images` further test
images that are never scored. Writes metrics/adaptive.json, plots/adaptive.csv and the seconds per image of
each attack to metrics/timing/adaptive.json (read by the report only). The surrogate adversarials (which
never call a defence) go to data/adaptive/surrogates.safetensors, so that other defences, variants or DDPM
checkpoints are scored on the same images without attacking again (scripts/ddpm_scale_score.py)."""

import pandas as pd
import torch

from diffdefense.adaptive import evaluation_images
from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range
from diffdefense.io import save_tensors, write_csv, write_json
from diffdefense.pipeline import DEFENDED_CLASSIFIER, MODELS_DIR
from diffdefense.protocol import Detection, adaptive_evaluation, verdict_rows
from diffdefense.seeding import seed_everything
from diffdefense.sharding import is_writer, process_group


def main():
    params = load_params()
    cfg, data = section(params, "adaptive"), section(params, "data")
    detection = cfg["detection"]
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    check_int_range("adaptive.images", cfg["images"], 1, len(test_images))
    check_int_range("adaptive.through_images", cfg["through_images"], 1, cfg["images"])
    check_int_range("adaptive.detection.calibration_images", detection["calibration_images"], 1,
                    len(test_images) - cfg["images"])
    n = cfg["images"]
    drawn, drawn_labels = evaluation_images(test_images, test_labels, n + detection["calibration_images"], data["seed"])
    device = resolve_device(params["device"])
    seed_everything(cfg["attack"]["seed"])
    classifiers, rows = verdict_rows(params, MODELS_DIR, device)
    with process_group(device):  # under torchrun the processes share each attack's batches
        result = adaptive_evaluation(
            classifiers, rows, drawn[:n], drawn_labels[:n], surrogate=cfg["surrogate"], attack=cfg["attack"],
            full_gradient=cfg["full_gradient"], through_images=cfg["through_images"],
            evaluation_draws=cfg["evaluation_draws"], fixed_seed=cfg["fixed_seed"],
            detection=Detection(drawn[n:], detection["false_positive_rate"], detection["aware_rows"],
                                section(params, "statistics", "bootstrap_resamples"), section(params, "statistics", "seed")),
            confidence=section(params, "statistics", "confidence"), device=device, progress_bar=is_writer(),
            say=print if is_writer() else lambda *_: None)
    if not is_writer():
        return
    write_json("metrics/adaptive.json", {"classifier": DEFENDED_CLASSIFIER} | result.metrics
               | {"threads": torch.get_num_threads()})
    write_csv("plots/adaptive.csv", pd.DataFrame(result.rows))
    write_json("metrics/timing/adaptive.json", {"seconds_per_image": result.seconds_per_image})
    save_tensors("data/adaptive/surrogates.safetensors",
                 {"clean": drawn[:n], "labels": drawn_labels[:n]}
                 | {f"{c}/{a}": images for c, by_attack in result.adversarials.items() for a, images in by_attack.items()},
                 {"dataset": data["dataset"], "images": n, "seed": data["seed"]})


if __name__ == "__main__":
    run_stage(main)
