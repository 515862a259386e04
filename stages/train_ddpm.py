"""Train the DDPM noise predictor (params train_ddpm) on the clean training split."""

import pandas as pd

from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, subset
from diffdefense.device import resolve_device
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError, check_int_range, check_positive
from diffdefense.io import write_csv, write_json
from diffdefense.models import UNet, save_ddpm
from diffdefense.training import train_ddpm


def main():
    params = load_params()
    cfg, data = section(params, "train_ddpm"), section(params, "data")
    check_int_range("train_ddpm.timesteps", cfg["timesteps"], 1, 1000)
    check_int_range("train_ddpm.epochs", cfg["epochs"], 1)
    check_int_range("train_ddpm.batch_size", cfg["batch_size"], 1)
    check_positive("train_ddpm.lr", cfg["lr"])
    if not 0 < cfg["beta_start"] <= cfg["beta_end"] < 1:
        raise UsageError("train_ddpm.beta_start/beta_end must satisfy 0 < beta_start <= beta_end < 1")
    images, _ = load_split("data/raw", data["dataset"], "train")
    images = images[subset(len(images), data["train_size"], data["seed"])]
    schedule = LinearSchedule(cfg["timesteps"], cfg["beta_start"], cfg["beta_end"])
    unet = UNet()
    history = train_ddpm(unet, schedule, images, epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                         seed=cfg["seed"], device=resolve_device(params.get("device", "auto")))
    save_ddpm(unet, schedule, "models/ddpm.safetensors")
    write_csv("plots/train_ddpm.csv", pd.DataFrame(history))
    write_json("metrics/train_ddpm.json", history[-1])
    print(f"DDPM: final epsilon-MSE {history[-1]['train_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
