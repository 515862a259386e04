"""bf16 against fp32 for DiffDefense on the pipeline's own sets, to choose defend.diffdefense.precision.

For every set DiffDefense defends: accuracy of A on the set purified in fp32 and in bf16 (the same images,
the same per-image seeds), the exact McNemar test of the pair, how far the output in the precision the
params resolve to is from the pipeline's data/defended/ (0 when this machine reproduces it), and seconds
per image of each precision, from one run. Run after `dvc repro` (it reads models/, data/sets/ and
data/defended/):

    python benchmarks/precision.py                               # every set, all its images
    python benchmarks/precision.py --images 50 --sets clean pgd-white --out results/precision-bf16

The other settings are params.yaml's defend.diffdefense. A CPU without bf16 units (no avx512_bf16 or
amx_bf16 in `lscpu`) emulates bf16 (diffdefense.precision): correct there, but slower.
"""

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from diffdefense.cli import load_params, section
from diffdefense.defences import DiffDefense
from diffdefense.device import resolve_device
from diffdefense.evaluation import correct
from diffdefense.io import load_tensors
from diffdefense.models import load_classifier
from diffdefense.pipeline import DEFENDED_CLASSIFIER, DEFENDED_DIR, MODELS_DIR, SETS_DIR, defended_sets
from diffdefense.precision import cpu_flags, resolve_precision
from diffdefense.report import cell
from diffdefense.run_comparison import paired_by_set

PRECISIONS = ("fp32", "bf16")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, help="first N images of each set (default: all)")
    parser.add_argument("--sets", nargs="+", help="sets to purify (default: every set DiffDefense defends)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="also write sets.csv and summary.json to this folder")
    args = parser.parse_args()
    params = load_params()
    settings = {k: v for k, v in section(params, "defend", "diffdefense").items() if k != "precision"}
    device = resolve_device(args.device)
    classifier = load_classifier(DEFENDED_CLASSIFIER, MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors")
    names = args.sets or defended_sets(section(params, "attack"))
    inputs = {name: load_tensors(SETS_DIR / f"{name}.safetensors")[0] for name in names}
    inputs = {name: {k: t[:args.images] for k, t in tensors.items()} for name, tensors in inputs.items()}

    correct_by, outputs, seconds = {}, {}, {}
    for precision in PRECISIONS:
        defence = DiffDefense.load(MODELS_DIR, device, batch_size=section(params, "defend", "batch_size"),
                                   precision=precision, **settings)
        start = time.perf_counter()
        outputs[precision] = {name: defence(t["images"]).images for name, t in inputs.items()}
        seconds[precision] = time.perf_counter() - start
        correct_by[precision] = {name: correct(classifier, outputs[precision][name], inputs[name]["labels"])
                                 for name in names}

    # the precision the pipeline's own data/defended/ was made in, which this run should reproduce
    ran = {torch.float32: "fp32", torch.bfloat16: "bf16"}[resolve_precision(
        "defend.diffdefense.precision", section(params, "defend", "diffdefense")["precision"], device)]
    rows = paired_by_set(correct_by["fp32"], correct_by["bf16"], labels=PRECISIONS)
    for row in rows:
        row.update({p: cell(row[p]) for p in PRECISIONS})
        if row["set"] != "all sets":
            name = row["set"]
            pipeline = load_tensors(DEFENDED_DIR / "diffdefense" / f"{name}.safetensors")[0]["images"]
            row[f"{ran}_vs_pipeline_max_diff"] = float((outputs[ran][name] - pipeline[:row["images"]]).abs().max())
            row["bf16_vs_fp32_mean_diff"] = float((outputs["bf16"][name] - outputs["fp32"][name]).abs().mean())
    table = pd.DataFrame(rows)
    images = sum(len(t["labels"]) for t in inputs.values())
    flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx"))
    summary = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "cpu_bf16_flags": flags, "images": images,
               "seconds_per_image": {p: round(s / images, 4) for p, s in seconds.items()},
               "bf16_speedup": round(seconds["fp32"] / seconds["bf16"], 2), "settings": settings}
    print(table.to_string(index=False))
    print(json.dumps(summary))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "sets.csv", index=False)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
