"""Paired accuracy of two runs' purified sets: per set and over all of them, the evaluated classifier's
accuracy on each run's reconstructions of the same images, with intervals and the exact McNemar test.
Use it to judge a change that alters the purified images (a precision, a machine) on every image:
    python scripts/compare_defended.py FIRST_RUN SECOND_RUN [--labels fp32 bf16] [--out results/NAME]
Each run is a project root after `dvc repro`; the images come from FIRST_RUN/data/defended/<defence>/ and
SECOND_RUN's, the labels from SECOND_RUN/data/sets/ and the classifier from SECOND_RUN/models/ (both runs
must have attacked the same images with the same classifier). Exit status 1 if some set differs (p < 0.05)."""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from diffdefense.evaluation import correct
from diffdefense.io import load_tensors
from diffdefense.models import load_classifier
from diffdefense.pipeline import DEFENDED_CLASSIFIER, DEFENDED_DIR, MODELS_DIR, SETS_DIR
from diffdefense.report import cell
from diffdefense.run_comparison import paired_by_set


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--defence", default="diffdefense")
    parser.add_argument("--labels", nargs=2, default=("first", "second"))
    parser.add_argument("--out", type=Path, help="also write sets.csv to this folder")
    args = parser.parse_args()
    folders = [run / DEFENDED_DIR / args.defence for run in (args.first, args.second)]
    names = sorted(p.stem for p in folders[1].glob("*.safetensors"))
    if not names or any(not (folders[0] / f"{n}.safetensors").exists() for n in names):
        sys.exit(f"error: {folders[1]} and {folders[0]} must hold the same purified sets")
    classifier = load_classifier(DEFENDED_CLASSIFIER,
                                 args.second / MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors")
    labels = {n: load_tensors(args.second / SETS_DIR / f"{n}.safetensors")[0]["labels"] for n in names}
    first, second = ({n: correct(classifier, load_tensors(folder / f"{n}.safetensors")[0]["images"], labels[n])
                      for n in names} for folder in folders)
    rows = paired_by_set(first, second, labels=tuple(args.labels))
    table = pd.DataFrame([{key: cell(v) if isinstance(v, dict) else v for key, v in row.items()} for row in rows])
    print(table.to_string(index=False))
    print(json.dumps({"classifier": DEFENDED_CLASSIFIER, "defence": args.defence, "sets": len(names)}))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "sets.csv", index=False)
    sys.exit(1 if any(row["p_value"] < 0.05 for row in rows) else 0)


if __name__ == "__main__":
    main()
