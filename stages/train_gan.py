"""Train the Defense-GAN generator (params train_gan) on the clean training split; writes the generator,
its training curve and an 8 x 8 grid of samples (plots/gan_samples.png)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from diffdefense.cli import load_params, run_stage, section  # noqa: E402
from diffdefense.data import training_split  # noqa: E402
from diffdefense.device import resolve_device  # noqa: E402
from diffdefense.gan_training import GAN_RECIPE, train_gan  # noqa: E402
from diffdefense.figures import as_picture, save_figure  # noqa: E402
from diffdefense.models.gan import build_gan, save_generator  # noqa: E402
from diffdefense.seeding import seed_everything  # noqa: E402
from diffdefense.training_log import TrainingLog  # noqa: E402


def save_samples(generator: torch.nn.Module, path: str, seed: int, title: str = "GAN samples") -> None:
    """An 8 x 8 grid of generator samples from fixed latents (the generator in eval mode)."""
    generator.eval()
    z = torch.randn((64, generator.latent_dim), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        samples = generator(z.to(next(generator.parameters()).device)).cpu()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(**as_picture(make_grid(samples, nrow=8, padding=0)), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    save_figure(fig, path)


def main():
    params = load_params()
    cfg, data = section(params, "train_gan"), section(params, "data")
    GAN_RECIPE.check("train_gan", cfg)  # run on its own too, a bad setting is named before any work
    device = resolve_device(params["device"])
    seed_everything(cfg["seed"])  # before the weights are initialised
    images, _ = training_split("data/raw", data)
    shape = tuple(images.shape[1:])
    generator, critic = build_gan(cfg["architecture"], cfg["latent_dim"], cfg["width"], shape)
    with TrainingLog("metrics/train_gan") as log:
        history = train_gan(generator, critic, images, epochs=cfg["epochs"], lr=cfg["lr"],
                            batch_size=cfg["batch_size"], seed=cfg["seed"], device=device, loss=cfg["loss"],
                            betas=tuple(cfg["betas"]), critic_steps=cfg["critic_steps"], gp_weight=cfg["gp_weight"],
                            on_epoch=log.epoch)
        save_generator(generator, "models/gan.safetensors")
    save_samples(generator, "plots/gan_samples.png", cfg["seed"])
    print(f"GAN ({cfg['architecture']}, {cfg['loss']}): final generator loss {history[-1]['generator_loss']:.4f}, "
          f"critic loss {history[-1]['critic_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
