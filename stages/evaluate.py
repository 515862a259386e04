"""Accuracy of classifier A without and with each defence on every set: metrics/table1.json and plots/table1.csv."""

import pandas as pd

from diffdefense.cli import load_params, run_stage, section
from diffdefense.evaluation import table1
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.models import load_classifier
from diffdefense.pipeline import DEFENDED_DIR, MODELS_DIR, SETS_DIR, set_names


def main():
    params = load_params()
    classifier = load_classifier("A", MODELS_DIR / "classifier_A.safetensors")
    sets = {s: load_tensors(SETS_DIR / f"{s}.safetensors", "testset" if s == "clean" else f"attack@{s}")
            for s in set_names(section(params, "attack"))}
    defended = {d: {s: load_tensors(DEFENDED_DIR / d / f"{s}.safetensors", f"defend@{d}") for s in sets}
                for d in section(params, "defend", "defences")}
    metrics, rows = table1(classifier, section(params, "data", "dataset"), sets, defended)
    write_json("metrics/table1.json", metrics)
    write_csv("plots/table1.csv", pd.DataFrame(rows))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
