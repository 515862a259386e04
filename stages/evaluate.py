"""Accuracy of the evaluated classifier on every set, without and with each defence:
metrics/table1.json and table2.json, plots/table1.csv and table2.csv."""

import pandas as pd

from diffdefense.cli import load_params, run_stage, section
from diffdefense.evaluation import accuracy_rows, table1, table2
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.models import load_classifier
from diffdefense.pipeline import (DEFENDED_CLASSIFIER, DEFENDED_DIR, MODELS_DIR, SETS_DIR, attack_sets,
                                  defended_sets, made_by)


def main():
    params = load_params()
    attack_params, defences = section(params, "attack"), section(params, "defend", "defences")
    specs = {"clean": None} | attack_sets(attack_params)
    sets, seconds = {}, {}
    for name, spec in specs.items():
        tensors, meta = load_tensors(SETS_DIR / f"{name}.safetensors", made_by(name))
        sets[name] = (tensors["images"], tensors["labels"], spec)
        seconds[name] = meta["seconds_per_image"]
    classifiers = {c: load_classifier(c, MODELS_DIR / f"classifier_{c}.safetensors")
                   for c in {DEFENDED_CLASSIFIER} | {spec.evaluated_on for spec in specs.values() if spec}}
    defended, defence_seconds = {}, {}
    for defence in defences:
        defended[defence], defence_seconds[defence] = {}, {}
        for name in defended_sets(attack_params):
            tensors, meta = load_tensors(DEFENDED_DIR / defence / f"{name}.safetensors", f"defend@{defence}")
            defended[defence][name], defence_seconds[defence][name] = tensors["images"], meta["seconds_per_image"]

    rows = accuracy_rows(classifiers, sets, defended)
    dataset = section(params, "data", "dataset")
    accuracy, table1_rows = table1(rows, dataset)
    write_json("metrics/table1.json", {"dataset": dataset, "test_images": len(sets["clean"][1]),
                                       "accuracy": accuracy, "defence_seconds_per_image": defence_seconds,
                                       "attack_seconds_per_image": {k: v for k, v in seconds.items() if k != "clean"}})
    write_csv("plots/table1.csv", pd.DataFrame(table1_rows))
    table = table2(rows, dataset, defence=defences[0]) if defences else {}
    write_json("metrics/table2.json", table)
    write_csv("plots/table2.csv", pd.DataFrame([{"attack": a} | {k: v for k, v in r.items() if k != "paper"}
                                                | {f"paper_{k}": v for k, v in r["paper"].items()}
                                                for a, r in table.items()]))
    print(pd.DataFrame(table1_rows).drop(columns=["condition"]).to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
