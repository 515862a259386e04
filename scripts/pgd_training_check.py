"""A_pgd, the PGD-style trained classifier, on more images than the default run attacks it with.

Run in a checkout whose params.yaml gives a larger data.test_size and attack.sets.autoattack-pgdtrained.images
(the classifier does not depend on either), after

    dvc repro attack@pgd-pgdtrained attack@autoattack-pgdtrained

then, from this repository:

    python scripts/pgd_training_check.py --run <that checkout> --out results/A_pgd-autoattack-500

Writes --out/pgd-training.json (the recipe, the per-epoch training history with its PGD-20 guard, clean
accuracy on the test split, PGD and AutoAttack accuracy with Wilson intervals, the model's md5) and copies
the checkout's params.yaml beside it; the report stage reads it when its recipe is the run's
(`diffdefense.report.wider_pgd_training_check`)."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import yaml

from diffdefense.evaluation import correct
from diffdefense.io import load_tensors
from diffdefense.models import load_classifier
from diffdefense.statistics import summarise

SETS = {"pgd": "pgd-pgdtrained", "autoattack": "autoattack-pgdtrained"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the checkout that ran the two attack stages")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    params = yaml.safe_load((run / "params.yaml").read_text())
    weights = run / "models" / "classifier_A_pgd.safetensors"
    model = load_classifier("A_pgd", weights, "cpu")
    clean, _ = load_tensors(run / "data" / "sets" / "clean.safetensors", "testset")
    result = {"recipe": params["train_classifier"]["A_pgd"], "dataset": params["data"]["dataset"],
              "attack_settings": {name: params["attack"]["settings"][name] for name in SETS},
              "model_md5": hashlib.md5(weights.read_bytes()).hexdigest()}
    trained = json.loads((run / "metrics" / "train_classifier_A_pgd" / "metrics.json").read_text())
    result["clean_test"] = trained["test"]
    history = run / "metrics" / "train_classifier_A_pgd" / "plots" / "metrics"
    result["per_epoch"] = {path.stem: [float(line.split("\t")[1]) for line in path.read_text().splitlines()[1:]]
                           for path in sorted(history.glob("*.tsv"))}
    for name, set_name in SETS.items():
        tensors, _ = load_tensors(run / "data" / "sets" / f"{set_name}.safetensors", f"attack@{set_name}")
        labels = tensors["labels"]
        if not (clean["labels"][:len(labels)] == labels).all():
            raise SystemExit(f"{set_name}'s labels are not the clean set's first {len(labels)}")
        result[name] = summarise(correct(model, tensors["images"], labels))
        print(f"{set_name}: {result[name]}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "pgd-training.json").write_text(json.dumps(result, indent=1) + "\n")
    shutil.copy(run / "params.yaml", out / "params.yaml")


if __name__ == "__main__":
    main()
