"""Train the DDPM noise predictor (params train_ddpm) on the clean training split."""

from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, training_split
from diffdefense.device import resolve_device
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.models import UNet, save_ddpm
from diffdefense.seeding import seed_everything
from diffdefense.training import DDPM_RECIPE, held_out_eps_mse, train_ddpm
from diffdefense.training_log import TrainingLog


def main():
    params = load_params()
    cfg, data = section(params, "train_ddpm"), section(params, "data")
    recipe = DDPM_RECIPE.resolve(cfg, "train_ddpm")
    if not cfg["beta_start"] <= cfg["beta_end"]:
        raise UsageError(f"train_ddpm.beta_start={cfg['beta_start']} must be <= train_ddpm.beta_end={cfg['beta_end']}")
    device = resolve_device(params["device"])
    seed_everything(cfg["seed"])  # before the weights are initialised
    images, _ = training_split("data/raw", data)
    schedule = LinearSchedule(cfg["timesteps"], cfg["beta_start"], cfg["beta_end"])
    unet = UNet(tuple(images.shape[1:]))
    with TrainingLog("metrics/train_ddpm") as log:
        history = train_ddpm(unet, schedule, images, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                             seed=recipe.seed, device=device, on_epoch=log.epoch, precision=recipe.precision)
        test_images, _ = load_split("data/raw", data["dataset"], "test")  # never trained on
        held_out = held_out_eps_mse(unet.cpu(), schedule, test_images, seed=cfg["seed"])  # its generator is on CPU
        log.finish(held_out_eps_mse=held_out, held_out_images=len(test_images))
        save_ddpm(unet, schedule, "models/ddpm.safetensors")
    print(f"DDPM: final epsilon-MSE {history[-1]['train_loss']:.4f}, held out {held_out:.4f}")


if __name__ == "__main__":
    run_stage(main)
