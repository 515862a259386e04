"""Accuracy of the evaluated classifier on every set, without and with each defence, each with its image
count and interval: metrics/table1.json and table2.json, plots/table1.csv and table2.csv.

Classifiers run on the device the attacks ran on, so an image that fooled its crafting classifier is
scored the same here. Per set, `boundary` records how many images lie on a decision boundary of the
classifier they are fed to (logit gap < evaluation.BOUNDARY_MARGIN) and, for white-box sets, how many
score differently from when they were crafted."""

import pandas as pd

from diffdefense.cli import load_params, run_stage, section
from diffdefense.device import resolve_device
from diffdefense.evaluation import BOUNDARY_MARGIN, accuracy_rows, correct, margins, table1, table2
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.models import load_classifier
from diffdefense.pipeline import (DEFENDED_CLASSIFIER, DEFENDED_DIR, MODELS_DIR, ROBUST_TRAINING, SETS_DIR, attack_sets,
                                  defended_sets, made_by)


def boundary(classifier, images, labels, fooled_when_crafted) -> dict:
    """How fragile a set's no-defence accuracy is: images on the classifier's boundary, and (for a set fed
    to the classifier it was crafted on) images whose fooled/not-fooled status differs from crafting time."""
    gaps = margins(classifier, images)
    result = {"images": len(labels), "on_boundary": int((gaps < BOUNDARY_MARGIN).sum()),
              "median_logit_gap": round(gaps.median().item(), 6)}
    if fooled_when_crafted is not None:
        fooled_now = ~correct(classifier, images, labels)
        result["flipped_since_crafted"] = int((fooled_now != fooled_when_crafted.bool()).sum())
    return result


def main():
    params = load_params()
    attack_params, defences = section(params, "attack"), section(params, "defend", "defences")
    confidence = section(params, "statistics", "confidence")
    device = resolve_device(params["device"])
    specs = {"clean": None} | attack_sets(attack_params)
    sets, crafted = {}, {}
    for name, spec in specs.items():
        tensors, _ = load_tensors(SETS_DIR / f"{name}.safetensors", made_by(name))
        sets[name] = (tensors["images"], tensors["labels"], spec)
        crafted[name] = tensors.get("fooled_when_crafted") if spec and spec.box == "white" else None
    classifiers = {c: load_classifier(c, MODELS_DIR / f"classifier_{c}.safetensors", device)
                   for c in {DEFENDED_CLASSIFIER} | {spec.evaluated_on for spec in specs.values() if spec}}
    defended = {defence: {name: load_tensors(DEFENDED_DIR / defence / f"{name}.safetensors",
                                             f"defend@{defence}")[0]["images"]
                          for name in defended_sets(attack_params)}
                for defence in defences}

    rows = accuracy_rows(classifiers, sets, defended, confidence)
    dataset = section(params, "data", "dataset")
    accuracy, table1_rows = table1(rows, dataset)
    fragility = {name: boundary(classifiers[spec.evaluated_on if spec else DEFENDED_CLASSIFIER], images, labels,
                                crafted[name])
                 for name, (images, labels, spec) in sets.items()}
    write_json("metrics/table1.json", {"dataset": dataset, "test_images": len(sets["clean"][1]),
                                       "confidence": confidence, "accuracy": accuracy, "boundary": fragility})
    write_csv("plots/table1.csv", pd.DataFrame(table1_rows))
    table = table2(rows, dataset, ROBUST_TRAINING, defence=defences[0]) if defences else {}
    write_json("metrics/table2.json", table)
    write_csv("plots/table2.csv", pd.DataFrame([
        {"attack": a} | {f"{column}{suffix}": (r[column] or {}).get(key)
                         for column in ("without_defence", "with_defence", "adversarial_training")
                         for suffix, key in (("", "accuracy"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))}
        | {f"paper_{k}": v for k, v in r["paper"].items()} for a, r in table.items()]))
    print(pd.DataFrame(table1_rows).drop(columns=["condition"]).to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
