"""Defense-GAN against generator training: train one WGAN-GP generator on the training split and, at
250, 500, 1000, ... generator steps (doubling) and when the time budget runs out, score Defense-GAN with
classifier A on the first images of the white-box FGSM set and of the clean set they were made from.

The question (issue 27, docs/defense-gan.md): the paper's Defense-GAN accuracies rise steeply with R
(50 % at L 100, R 1 against 89 % at L 100, R 10), and the public Defense-GAN code's white-box FGSM leaves
images unchanged. Is the paper's column what a weakly trained generator gives on clean images? This
script measures both sets against the generator's training steps.

From the project root, with the pipeline's models in RUN/models and its sets in RUN/data/sets:
    DIFFDEFENSE_DATA_MIRROR=../shared/datasets nice -n 19 python scripts/defensegan_curve.py --run RUN --minutes 240
Writes OUT (default results/defensegan-curve/): curve.csv (one row per checkpoint: generator steps, training
and wall minutes, accuracy with Wilson interval, mean reconstruction MSE and seconds per image on each set),
samples/steps-NNNNNN.png (64 samples from the fixed latents of plots/gan_samples.png), checkpoints/
(the generators, as models/gan.safetensors) and README.md (the command, machine, params and times),
rewritten after every checkpoint so a stopped run keeps what it measured.

Defense-GAN's settings are the run's params.yaml defend.defencegan with L and R from the command line.
The training is the original's: WGAN-GP, batch 50, 5 critic steps per generator step, gradient penalty 10,
Adam 1e-4 (0.5, 0.9), on all 60 000 training images.

Default architecture, measured: one WGAN-GP generator step (5 critic steps, batch 50) on this project's
2-core AMD EPYC at nice 19, one torch thread, while a pipeline run kept both cores busy (2026-11-29):
the DCGAN of width 32 0.29 s (~12 500 generator steps per hour), width 64 0.65 s, the original networks
(width 64) 2.7 s (~1 300 per hour); with 2 threads each was about 2x slower still (the cores were busy).
So dcgan at width 32 gets furthest per hour. Scoring 50 + 50 images at L 200, R 10 takes about 1 minute
with it (0.5-0.7 s per image) and ~6 minutes with the original generator (~3.4 s per image).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from diffdefense.cli import run_stage  # noqa: E402
from diffdefense.data import MIRROR_ENV, load_split, mirror_root  # noqa: E402
from diffdefense.defences import DefenceGAN  # noqa: E402
from diffdefense.errors import UsageError, check_int_range, check_positive  # noqa: E402
from diffdefense.evaluation import timed_accuracy  # noqa: E402
from diffdefense.gan_training import train_gan  # noqa: E402
from diffdefense.io import load_tensors, write_csv  # noqa: E402
from diffdefense.models import load_classifier  # noqa: E402
from diffdefense.models.gan import ARCHITECTURES, build_gan, save_generator  # noqa: E402
from diffdefense.pipeline import made_by  # noqa: E402
from diffdefense.report import markdown_table  # noqa: E402
from diffdefense.seeding import seed_everything  # noqa: E402
from stages.train_gan import save_samples  # noqa: E402

WIDTHS = {"dcgan": 32, "original": 64}  # the pipeline's default DCGAN; the original's NET_DIM


def is_checkpoint(steps: int, first: int) -> bool:
    """Whether `steps` is first x 2^k."""
    ratio = steps // first
    return steps % first == 0 and ratio > 0 and ratio & (ratio - 1) == 0


def score(generator: torch.nn.Module, classifier: torch.nn.Module, sets: dict, defencegan: dict,
          confidence: float = 0.95) -> dict:
    """Defense-GAN with a copy of `generator` (so training goes on untouched) in front of `classifier` on
    each of `sets` (name -> images, labels): name_accuracy, name_ci_low, ... columns."""
    defence = DefenceGAN(copy.deepcopy(generator), **defencegan)
    return {f"{name}_{key}": value for name, (images, labels) in sets.items()
            for key, value in timed_accuracy(defence, classifier, images, labels, confidence).items()}


def curve(generator, critic, train_images: torch.Tensor, classifier, sets: dict, *, defencegan: dict,
          training: dict, minutes: float, first: int, max_steps: int, out: Path | None = None,
          on_row=None) -> list[dict]:
    """Train `generator` against `critic` (train_gan with the keywords in `training`) until `max_steps`
    generator steps or `minutes` of wall time, scoring Defense-GAN (`score`) at every checkpoint (first x
    2^k generator steps) and where it stops. With `out`, each checkpoint's generator and samples are saved
    there; `on_row(rows)` gets the rows so far after each checkpoint."""
    check_positive("--minutes", minutes)
    check_int_range("--first", first, 1)
    check_int_range("--max-steps", max_steps, 1)
    start, scoring, rows = time.perf_counter(), 0.0, []

    def spent() -> float:
        return (time.perf_counter() - start) / 60

    def after_generator_step(steps: int) -> bool:
        nonlocal scoring
        stop = steps >= max_steps or spent() >= minutes
        if stop or is_checkpoint(steps, first):
            began, train_minutes = time.perf_counter(), round(spent() - scoring / 60, 2)
            if out is not None:
                snapshot = copy.deepcopy(generator)
                save_generator(snapshot, out / "checkpoints" / f"gan-{steps:06d}.safetensors")
                save_samples(snapshot, str(out / "samples" / f"steps-{steps:06d}.png"), seed=0,
                             title=f"after {steps} generator steps")
            scores = score(generator, classifier, sets, defencegan)
            scoring += time.perf_counter() - began
            rows.append({"steps": steps, "train_minutes": train_minutes, "wall_minutes": round(spent(), 2)} | scores)
            if on_row is not None:
                on_row(rows)
        return stop or spent() >= minutes

    per_epoch = len(train_images) // training["batch_size"] // training["critic_steps"]  # generator steps
    if per_epoch < 1:
        raise UsageError(f"{len(train_images)} training images make no generator step per epoch at batch "
                         f"{training['batch_size']} and {training['critic_steps']} critic steps")
    train_gan(generator, critic, train_images, epochs=math.ceil(max_steps / per_epoch) + 1,
              on_generator_step=after_generator_step, **training)
    return rows


def machine() -> str:
    """lscpu's model name, and the cores torch uses."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = "unknown CPU (lscpu gave no model name)"
    return f"{model}; torch {torch.__version__}, torch threads: {torch.get_num_threads()}"


def write_readme(out: Path, command: str, settings: dict, rows: list[dict], started: str) -> None:
    """README.md for the curve: what it measures, how it was made, and the table so far."""
    table = "(no checkpoint yet)"
    if rows:
        columns = ["steps", "train_minutes", "wall_minutes"] + [
            c for c in rows[0] if c.endswith(("_accuracy", "_ci_low", "_ci_high", "_recon_error"))]
        table = markdown_table(columns, [[row[c] for c in columns] for row in rows])
    text = "\n\n".join([
        "# Defense-GAN against generator training",
        "Written by `scripts/defensegan_curve.py` (see its docstring for the question and the choice of "
        "architecture). Each row: a WGAN-GP generator after `steps` generator steps, and Defense-GAN on it "
        "in front of classifier A on the first images of each set (accuracy % with 95 % Wilson interval, "
        "mean reconstruction MSE). `train_minutes` leaves out the scoring; `wall_minutes` is since the start. "
        "Samples at each checkpoint are in `samples/`, the generators in `checkpoints/`.",
        f"Command:\n\n```\n{command}\n```",
        f"Machine: {machine()}. Started {started}.",
        "Settings:\n\n```yaml\n" + yaml.safe_dump(settings, sort_keys=False).strip() + "\n```",
        "Curve (`curve.csv` has seconds per image too):\n\n" + table,
    ])
    (out / "README.md").write_text(text + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=ROOT, help="folder with models/ and data/sets/ (default: here)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "defensegan-curve")
    parser.add_argument("--minutes", type=float, required=True, help="wall-time budget, scoring included")
    parser.add_argument("--architecture", choices=list(ARCHITECTURES), default="dcgan")
    parser.add_argument("--width", type=int, help="default: 32 for dcgan, 64 (the original's) for original")
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--first", type=int, default=250, help="first checkpoint; then every doubling")
    parser.add_argument("--max-steps", type=int, default=200_000, help="the original's generator steps")
    parser.add_argument("--images", type=int, default=50, help="first images of each set to score")
    parser.add_argument("--attacked-set", default="fgsm-white")
    parser.add_argument("--L", type=int, default=200)
    parser.add_argument("--R", type=int, default=10)
    parser.add_argument("--decay", type=float, help="Defense-GAN's step decay (default: the run's params; 1.0 is "
                                                     "the authors' effective constant step)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    params = yaml.safe_load((args.run / "params.yaml").read_text())
    defencegan = params["defend"]["defencegan"] | {"L": args.L, "R": args.R, "batch_size": args.images}
    if args.decay is not None:
        defencegan["decay"] = args.decay
    training = {"loss": "wgan-gp", "lr": 1e-4, "betas": (0.5, 0.9), "batch_size": 50, "critic_steps": 5,
                "gp_weight": 10.0, "seed": args.seed, "device": torch.device("cpu")}
    raw = mirror_root()
    if raw is None:
        raise UsageError(f"set {MIRROR_ENV} to the local dataset mirror (../shared/datasets)")
    train_images, _ = load_split(raw, "MNIST", "train")
    sets = {}
    for name in ("clean", args.attacked_set):
        tensors, _ = load_tensors(args.run / "data" / "sets" / f"{name}.safetensors", made_by(name))
        check_int_range("--images", args.images, 1, len(tensors["images"]))
        sets[name] = tensors["images"][:args.images], tensors["labels"][:args.images]
    if not torch.equal(sets["clean"][1], sets[args.attacked_set][1]):
        raise UsageError(f"--attacked-set={args.attacked_set!r} does not hold the first clean test images")
    classifier = load_classifier("A", args.run / "models" / "classifier_A.safetensors")

    width = args.width or WIDTHS[args.architecture]
    seed_everything(args.seed)  # before the weights are initialised
    generator, critic = build_gan(args.architecture, args.latent_dim, width)
    settings = {"architecture": args.architecture, "width": width, "latent_dim": args.latent_dim,
                "training": training | {"betas": list(training["betas"]), "device": "cpu",
                                        "images": len(train_images)},
                "checkpoints": f"{args.first} x 2^k generator steps, and where the budget ({args.minutes} min) "
                               f"or --max-steps ({args.max_steps}) stops training",
                "defencegan": defencegan, "classifier": "A", "sets": list(sets), "images": args.images,
                "run": str(args.run.resolve())}
    niceness = os.nice(0)
    command = (f"{MIRROR_ENV}={shlex.quote(str(raw))} " + (f"nice -n {niceness} " if niceness else "")
               + shlex.join(["python", *sys.argv]))
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    args.out.mkdir(parents=True, exist_ok=True)

    def save(rows):
        write_csv(args.out / "curve.csv", pd.DataFrame(rows))
        write_readme(args.out, command, settings, rows, started)
        last = rows[-1]
        print(f"{last['steps']} steps, {last['train_minutes']} min training: "
              + ", ".join(f"{name} {last[f'{name}_accuracy']:.1f} %" for name in sets), flush=True)

    write_readme(args.out, command, settings, [], started)
    curve(generator, critic, train_images, classifier, sets, defencegan=defencegan, training=training,
          minutes=args.minutes, first=args.first, max_steps=args.max_steps, out=args.out, on_row=save)


if __name__ == "__main__":
    run_stage(main)
