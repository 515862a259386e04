"""Where does DiffDefense's robustness come from, on the verdict's own images? Scores the default DiffDefense
(defend.diffdefense) and each ablation variant (ablation.variants: settings replaced) in front of classifier
A on the adaptive stage's saved surrogate adversarials (data/adaptive/surrogates.safetensors: they never call
a defence, so one set serves every variant), clean and under each surrogate, every image under
adaptive.evaluation_draws fresh draws, with exact McNemar tests against the default and the fraction of
output pixels that end saturated (below 0.01 or above 0.99) on the first draw.

    nice -n 10 python scripts/variants_on_verdict.py --run <a default run's checkout> --out results/variants-1000

--run holds models/ and data/adaptive/ of a default `dvc repro` (or `dvc pull` + `dvc repro adaptive`).
Writes --out/variants.json and --out/variants.csv (after each variant, so a stopped run keeps what it
scored) and --out/params.yaml (the run's); --images N scores the first N images only. Variants already in
--out/variants.json and not chosen are kept, once the default scores as it did there."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from diffdefense.adaptive import robust_over_draws
from diffdefense.defended import defended_classifier, load_pipeline_models
from diffdefense.errors import UsageError
from diffdefense.evaluation import saturated_fraction
from diffdefense.io import write_csv, write_json
from diffdefense.protocol import FRESH_DRAW
from diffdefense.statistics import mcnemar, summarise
from ddpm_scale_score import RULE_KEYS, kept_from_earlier_run, saved_sets_on_a  # noqa: E402  (scripts/, run as a script)

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a default run's checkout (models/, data/adaptive/)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--images", type=int, help="first N images (default: all the run saved)")
    parser.add_argument("--variants", nargs="+", help="ablation.variants to score (default: all); the "
                        "default DiffDefense is always scored")
    args = parser.parse_args()
    run = Path(args.run)
    params = yaml.safe_load((run / "params.yaml").read_text())
    variants = params["ablation"]["variants"]
    chosen = args.variants or list(variants)
    unknown = [v for v in chosen if v not in variants]
    if unknown:
        raise UsageError(f"--variants: {unknown} are not in ablation.variants {sorted(variants)}")
    sets, labels = saved_sets_on_a(run / "data" / "adaptive" / "surrogates.safetensors",
                                   params["adaptive"]["surrogate"], args.images)
    count = len(labels)
    classifier, unet, schedule = load_pipeline_models(run / "models")
    draws = [FRESH_DRAW + i for i in range(params["adaptive"]["evaluation_draws"])]
    default = params["defend"]["diffdefense"]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.yaml").write_text((run / "params.yaml").read_text())  # the run's: the report matches on it
    results, robust, kept = {}, {}, {}
    for name in ["default"] + chosen:
        settings = default | (variants.get(name) or {})
        start = time.perf_counter()
        model = defended_classifier(classifier, "diffdefense", unet=unet, schedule=schedule,
                                    batch_size=params["defend"]["batch_size"], **settings)
        scores = robust_over_draws(model, sets, labels, draws)
        model.redraw(draws[0])
        # the first 100 images of each set: the fraction is stable well before
        saturated = {set_name: saturated_fraction(model.purify(images[:100]).images) for set_name, images in sets.items()}
        robust[name] = scores.robust
        results[name] = {"settings": variants.get(name) or {},
                         "first_draw": {s: summarise(c) for s, c in scores.first_draw.items()},
                         **{RULE_KEYS[r]: summarise(c) for r, c in scores.robust.items()},
                         "saturated_first_100": saturated, "seconds": round(time.perf_counter() - start, 1)}
        if name == "default":
            kept = kept_from_earlier_run(out / "variants.json", "variants", results, "default", count)
        else:
            results[name]["vs_default"] = {r: mcnemar(robust[name][r], robust["default"][r]) for r in RULE_KEYS}
        print(f"{name}: " + ", ".join(f"{s} {v['accuracy']:.1f}" for s, v in results[name]["first_draw"].items())
              + f", worst of draws {results[name]['robust_worst_of_draws']['accuracy']:.1f}", flush=True)
        scored = results | kept
        scored = {n: scored[n] for n in ["default", *variants] if n in scored}
        # after each variant, so that a stopped run keeps what it scored
        write_json(out / "variants.json", {"images": count, "evaluation_draws": len(draws),
                                           "surrogates": list(sets)[1:], "defend": default, "variants": scored})
        write_csv(out / "variants.csv", pd.DataFrame(
            [{"variant": v, "measure": key, **{k: value[k] for k in ("accuracy", "ci_low", "ci_high", "images")}}
             for v, row in scored.items()
             for key, value in list(row["first_draw"].items()) + [(k, row[k]) for k in RULE_KEYS.values()]]))

if __name__ == "__main__":
    try:
        main()
    except UsageError as exc:
        sys.exit(f"error: {exc}")
