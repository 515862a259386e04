"""Train the default run's DDPM much longer, in pieces that resume (issue: is the verdict an artefact of a
3-epoch DDPM?). Same recipe as params.yaml's train_ddpm (schedule, lr, batch, seed, data), only more epochs.

    nice -n 19 python scripts/ddpm_scale.py --epochs 30 --checkpoints 1 3 10 30 [--threads 1]

Writes to --out (default results/ddpm-scale/): ddpm_epoch<N>.safetensors at each checkpoint epoch (loadable
with diffdefense.models.load_ddpm), history.csv (per epoch: training loss, seconds, and at checkpoints the
held-out epsilon-MSE on the 10 000 test images), and resume.safetensors + resume.pt (the last finished
epoch's weights and Adam/generator states; loaded with weights_only=True). Run the same command again after
a stop and it continues from the last finished epoch, with the result it would have had without the stop
(on the same machine and thread count). The raw dataset is fetched from $DIFFDEFENSE_DATA_MIRROR (or
downloaded) into .cache/, which git ignores."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from diffdefense.data import fetch, load_split, training_split
from diffdefense.errors import UsageError, check_int_range
from diffdefense.io import load_tensors, save_tensors
from diffdefense.models import save_ddpm
from diffdefense.training import held_out_eps_mse, new_ddpm, train_ddpm

FIELDS = ["epoch", "train_loss", "seconds", "held_out_eps_mse"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--out", default="results/ddpm-scale")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    check_int_range("--epochs", args.epochs, 1)
    for epoch in args.checkpoints:
        check_int_range("--checkpoints", epoch, 1, args.epochs)
    if args.threads:
        torch.set_num_threads(args.threads)
    params = yaml.safe_load(open(args.params))
    cfg, data = params["train_ddpm"], params["data"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = Path(".cache/ddpm-scale-raw")
    fetch(data["dataset"], raw)
    images, _ = training_split(raw, data)
    held_out, _ = load_split(raw, data["dataset"], "test")

    recipe, schedule, unet = new_ddpm(cfg, tuple(images.shape[1:]), epochs=args.epochs)
    resume = None
    if (out / "resume.pt").exists():
        unet.load_state_dict(load_tensors(out / "resume.safetensors")[0])
        resume = torch.load(out / "resume.pt", weights_only=True)
        print(f"resuming after epoch {resume['epoch']}")
    history_path = out / "history.csv"
    rows = list(csv.DictReader(open(history_path))) if history_path.exists() and resume else []
    rows = [r for r in rows if resume and int(r["epoch"]) <= resume["epoch"]]

    def on_epoch(row: dict) -> None:
        row = dict(row)
        if row["epoch"] in args.checkpoints:
            save_ddpm(unet, schedule, out / f"ddpm_epoch{row['epoch']}.safetensors")
            row["held_out_eps_mse"] = held_out_eps_mse(unet, schedule, held_out, seed=recipe.seed)
            unet.train()
        rows.append(row)
        print(f"epoch {row['epoch']}: train {row['train_loss']:.4f}, {row['seconds']:.0f} s"
              + (f", held-out eps-MSE {row['held_out_eps_mse']:.4f}" if "held_out_eps_mse" in row else ""),
              flush=True)

    def on_checkpoint(state: dict) -> None:
        # weights and state written before the history that names the epoch: a kill between them repeats it
        save_tensors(out / "resume.safetensors", unet.state_dict(), {})
        tmp = out / ".resume.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, out / "resume.pt")
        with open(history_path, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    if resume is None or resume["epoch"] < args.epochs:
        train_ddpm(unet, schedule, images, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                   seed=recipe.seed, device=torch.device("cpu"), on_epoch=on_epoch, resume=resume,
                   on_checkpoint=on_checkpoint)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"done through epoch {args.epochs} (commit {commit}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    try:
        main()
    except UsageError as exc:
        sys.exit(f"error: {exc}")
