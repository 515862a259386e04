"""Train the DDPM noise predictor (params train_ddpm) on the clean training split."""

from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, training_split
from diffdefense.device import resolve_device
from diffdefense.models import save_ddpm
from diffdefense.training import held_out_eps_mse, new_ddpm, train_ddpm
from diffdefense.training_log import TrainingLog


def main():
    params = load_params()
    cfg, data = section(params, "train_ddpm"), section(params, "data")
    device = resolve_device(params["device"])
    images, _ = training_split("data/raw", data)
    recipe, schedule, unet = new_ddpm(cfg, tuple(images.shape[1:]))
    with TrainingLog("metrics/train_ddpm") as log:
        history = train_ddpm(unet, schedule, images, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                             seed=recipe.seed, device=device, on_epoch=log.epoch, precision=recipe.precision)
        test_images, _ = load_split("data/raw", data["dataset"], "test")  # never trained on
        held_out = held_out_eps_mse(unet.cpu(), schedule, test_images, seed=recipe.seed)  # its generator is on CPU
        log.finish(held_out_eps_mse=held_out, held_out_images=len(test_images))
        save_ddpm(unet, schedule, "models/ddpm.safetensors")
    print(f"DDPM: final epsilon-MSE {history[-1]['train_loss']:.4f}, held out {held_out:.4f}")


if __name__ == "__main__":
    run_stage(main)
