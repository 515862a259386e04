"""Does the verdict change with the DDPM's training length? Scores DiffDefense (defend.diffdefense, classifier
A) with each checkpoint of scripts/ddpm_scale.py on the adaptive stage's first --images images: clean and
under the adaptive stage's surrogate attacks on A (adaptive.surrogate; they never call the defence, so one
set of adversarials serves every checkpoint), each image under adaptive.evaluation_draws fresh draws.

    nice -n 10 python scripts/ddpm_scale_score.py --models models --images 200
    nice -n 10 python scripts/ddpm_scale_score.py --models models --surrogates data/adaptive/surrogates.safetensors

--surrogates: the adaptive stage's own surrogate adversarials of a default run (its first --images, all by
default), which makes the attacks unnecessary and the images exactly the verdict's. --models holds
classifier_A.safetensors (the default run's, `dvc repro train_classifier@A`). Writes
--out/scores.json (per checkpoint: held-out eps-MSE, accuracies with Wilson intervals by rule, exact McNemar
tests of every checkpoint against the default length's), --out/scores.csv and --out/scores.png. Checkpoints
already in --out/scores.json and not in --checkpoints are kept, once the default length, which must be among
--checkpoints, scores as it did there."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from diffdefense import report  # noqa: E402
from diffdefense.adaptive import evaluation_images, robust_over_draws  # noqa: E402
from diffdefense.data import fetch, load_split  # noqa: E402
from diffdefense.defended import defended_classifier  # noqa: E402
from diffdefense.errors import UsageError, check_int_range  # noqa: E402
from diffdefense.models import load_classifier, load_ddpm  # noqa: E402
from diffdefense.protocol import FRESH_DRAW, surrogate_attacks  # noqa: E402
from diffdefense.seeding import seed_everything  # noqa: E402
from diffdefense.statistics import mcnemar, summarise  # noqa: E402
from through_tier import saved_surrogates  # noqa: E402  (scripts/, run as a script)

RULE_KEYS = {"one": "robust_one_draw", "worst": "robust_worst_of_draws", "majority": "robust_majority_of_draws"}


def saved_sets_on_a(path: str | Path, surrogate: dict, images: int | None = None):
    """The adaptive stage's saved images on classifier A (data/adaptive/surrogates.safetensors): {"clean": ...,
    <surrogate>: ...} in adaptive.surrogate's order (the stage's own), and the labels; the first `images`."""
    clean, labels, adversarials = saved_surrogates(Path(path), images)
    on_a = adversarials.get("A", {})
    return {"clean": clean} | {name: on_a[name] for name in surrogate if name in on_a}, labels


def kept_from_earlier_run(path: Path, section: str, scored: dict, reference, images: int) -> dict:
    """The entries of an earlier run's `section` (its JSON at `path`) that this run did not score, so that a
    results folder grows one checkpoint or variant at a time. Scoring is deterministic, so the earlier run's
    `reference` entry must equal this run's: then its paired tests against the reference still hold."""
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())

    def comparable(entry: dict) -> dict:
        return {k: v for k, v in json.loads(json.dumps(entry)).items() if k != "seconds" and not k.startswith("vs_")}

    entries = earlier[section]
    if earlier["images"] != images or comparable(entries.get(str(reference), {})) != comparable(scored[reference]):
        raise UsageError(f"--out: {path} holds other images, or its {reference} is missing or scored differently; "
                         f"score {reference} again with the others, or write to an empty folder")
    return {key: entry for key, entry in entries.items() if key not in {str(k) for k in scored}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models", help="folder with classifier_A.safetensors")
    parser.add_argument("--checkpoints", default="results/ddpm-scale")
    parser.add_argument("--out", default="results/ddpm-scale")
    parser.add_argument("--images", type=int, help="first N images (default: 200, or all of --surrogates)")
    parser.add_argument("--surrogates", help="data/adaptive/surrogates.safetensors of a default run")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--verdict", help="a default run's metrics/adaptive.json: its other rows' robust accuracy "
                        "(every draw) drawn beside the checkpoints, where it scored as many images")
    parser.add_argument("--plot-only", action="store_true", help="redraw --out/scores.png from --out/scores.json")
    args = parser.parse_args()
    check_int_range("--images", args.images or 1, 1, 10_000)
    if args.plot_only:
        scores = json.loads((Path(args.out) / "scores.json").read_text())
        plot({int(e): row for e, row in scores["checkpoints"].items()}, Path(args.out) / "scores.png",
             scores["images"], verdict_rows(args.verdict, scores["images"]))
        return
    params = yaml.safe_load(open(args.params))
    cfg, data, defence = params["adaptive"], params["data"], dict(params["defend"]["diffdefense"])
    history = {int(r["epoch"]): r for r in csv.DictReader(open(Path(args.checkpoints) / "history.csv"))}
    checkpoints = sorted(int(p.stem.removeprefix("ddpm_epoch"))
                         for p in Path(args.checkpoints).glob("ddpm_epoch*.safetensors"))
    if not checkpoints:
        raise UsageError(f"--checkpoints {args.checkpoints} holds no ddpm_epoch<N>.safetensors")
    classifier_file = Path(args.models) / "classifier_A.safetensors"
    if not classifier_file.exists():
        raise UsageError(f"--models: {classifier_file} is missing (dvc repro train_classifier@A)")
    default_epochs = params["train_ddpm"]["epochs"]

    classifier = load_classifier("A", classifier_file, "cpu")
    if args.surrogates:
        sets, labels = saved_sets_on_a(args.surrogates, cfg["surrogate"], args.images)
    else:
        raw = Path(".cache/ddpm-scale-raw")
        fetch(data["dataset"], raw, splits=("test",))
        test_images, test_labels = load_split(raw, data["dataset"], "test")
        images, labels = evaluation_images(test_images, test_labels, args.images or 200, data["seed"])
        seed_everything(cfg["attack"]["seed"])
        sets = {"clean": images}
        for name, attack in surrogate_attacks(cfg["surrogate"], classifier, "A", ["A"]).items():
            print(f"surrogate {name} on A, {len(images)} images", flush=True)
            sets[name] = attack(images, labels)
    draws = [FRESH_DRAW + i for i in range(cfg["evaluation_draws"])]

    results, robust = {}, {}
    for epoch in checkpoints:
        start = time.perf_counter()
        unet, schedule = load_ddpm(Path(args.checkpoints) / f"ddpm_epoch{epoch}.safetensors", "cpu")
        model = defended_classifier(classifier, "diffdefense", unet=unet, schedule=schedule,
                                    batch_size=params["defend"]["batch_size"], **defence)
        first, by_rule, *_ = robust_over_draws(model, sets, labels, draws)
        robust[epoch] = by_rule
        mse = history[epoch]["held_out_eps_mse"]
        results[epoch] = {"held_out_eps_mse": float(mse) if mse else None,
                          "first_draw": {name: summarise(c) for name, c in first.items()},
                          **{RULE_KEYS[r]: summarise(c) for r, c in by_rule.items()},
                          "seconds": round(time.perf_counter() - start, 1)}
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v['accuracy']:.1f}" for k, v in results[epoch].items()
                                             if isinstance(v, dict) and "accuracy" in v), flush=True)
    reference = default_epochs if default_epochs in robust else checkpoints[0]
    out = Path(args.out)
    kept = kept_from_earlier_run(out / "scores.json", "checkpoints", results, reference, len(labels))
    for epoch in checkpoints:
        results[epoch]["vs_default_length"] = {r: mcnemar(robust[epoch][r], robust[reference][r]) for r in RULE_KEYS}
    results = dict(sorted(({int(k): v for k, v in kept.items()} | results).items()))

    json.dump({"images": len(labels), "surrogates_from": args.surrogates or "attacked here",
               "default_epochs": reference, "defence": defence,
               "evaluation_draws": cfg["evaluation_draws"], "surrogates": list(sets)[1:],
               "checkpoints": results}, open(out / "scores.json", "w"), indent=1)
    with open(out / "scores.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "held_out_eps_mse", "measure", "accuracy", "ci_low", "ci_high", "images"])
        for epoch, row in results.items():
            for key, value in list(row["first_draw"].items()) + [(k, row[k]) for k in RULE_KEYS.values()]:
                writer.writerow([epoch, row["held_out_eps_mse"], key, value["accuracy"], value["ci_low"],
                                 value["ci_high"], value["images"]])
    plot(results, out / "scores.png", len(labels), verdict_rows(args.verdict, len(labels)))


def verdict_rows(path: str | None, images: int) -> dict[str, dict]:
    """report.verdict_other_rows of a run's metrics/adaptive.json at `path`, by display name ({} without one)."""
    if not path:
        return {}
    rows = report.verdict_other_rows(json.loads(Path(path).read_text()), images)
    return {report.DEFENCE_NAMES.get(name, name): robust for name, robust in rows.items()}


def plot(results: dict, path: Path, images: int, verdict: dict[str, dict]) -> None:
    """Accuracy and held-out epsilon-MSE against DDPM training epochs; the verdict's other rows (robust under
    every draw, same images) as bands with their intervals, so the verdict's order reads off the figure."""
    epochs = list(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    # rows far below every checkpoint would squeeze the checkpoints' intervals flat: named, not drawn
    floor = min(results[e]["robust_worst_of_draws"]["ci_low"] for e in epochs) - 15
    far_below = {name: row for name, row in verdict.items() if row["ci_high"] < floor}
    drawn = {name: row for name, row in verdict.items() if name not in far_below}
    for (name, row), colour in zip(drawn.items(), ["tab:red", "tab:purple", "tab:brown", "tab:gray"]):
        left.axhspan(row["ci_low"], row["ci_high"], color=colour, alpha=0.15)
        left.axhline(row["accuracy"], color=colour, linestyle="--", label=f"{name}, every draw (verdict)")
    if far_below:
        left.text(0.02, 0.02, "below the axis (every draw): " + ", ".join(
            f"{name} {report.cell(row)}" for name, row in far_below.items()), transform=left.transAxes, fontsize="small")
    for key, label in [("robust_one_draw", "robust, one draw"), ("robust_worst_of_draws", "robust, worst of draws")]:
        acc = [results[e][key]["accuracy"] for e in epochs]
        err = [[a - results[e][key]["ci_low"] for a, e in zip(acc, epochs)],
               [results[e][key]["ci_high"] - a for a, e in zip(acc, epochs)]]
        left.errorbar(epochs, acc, yerr=err, marker="o", capsize=3, label=label)
    clean = [results[e]["first_draw"]["clean"]["accuracy"] for e in epochs]
    left.plot(epochs, clean, marker="s", label="clean")
    left.set(xscale="log", xlabel="DDPM training epochs", ylabel=f"accuracy of DiffDefense + A (%, {images} images)",
             title="DiffDefense under the surrogate attacks")
    left.legend(fontsize="small", loc="upper right", bbox_to_anchor=(1, 0.92))  # under the clean line
    mse = [(e, results[e]["held_out_eps_mse"]) for e in epochs if results[e]["held_out_eps_mse"] is not None]
    right.plot([e for e, _ in mse], [m for _, m in mse], marker="o")
    right.set(xscale="log", xlabel="DDPM training epochs", ylabel="held-out epsilon-MSE (10 000 test images)",
              title="DDPM noise-prediction error")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    try:
        main()
    except UsageError as exc:
        sys.exit(f"error: {exc}")
