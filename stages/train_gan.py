"""Train the Defense-GAN generator (params train_gan) on the clean training split; writes the generator,
its training curve and an 8 x 8 grid of samples (plots/gan_samples.png)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from diffdefense.cli import load_params, run_stage, section  # noqa: E402
from diffdefense.data import load_split, subset  # noqa: E402
from diffdefense.device import resolve_device  # noqa: E402
from diffdefense.errors import UsageError, check_int_range, check_one_of, check_positive  # noqa: E402
from diffdefense.gan_training import LOSSES, train_gan  # noqa: E402
from diffdefense.figures import save_figure  # noqa: E402
from diffdefense.io import write_csv, write_json  # noqa: E402
from diffdefense.models.gan import Critic, Generator, save_generator  # noqa: E402

KEYS = {"loss", "epochs", "lr", "betas", "batch_size", "latent_dim", "width", "critic_steps", "gp_weight", "seed"}


def check_params(cfg: dict) -> None:
    if not isinstance(cfg, dict) or set(cfg) != KEYS:
        got = sorted(cfg) if isinstance(cfg, dict) else cfg
        raise UsageError(f"train_gan must have exactly the keys {sorted(KEYS)}, got {got}")
    check_one_of("train_gan.loss", cfg["loss"], LOSSES)
    for key in ("epochs", "batch_size", "latent_dim", "width", "critic_steps"):
        check_int_range(f"train_gan.{key}", cfg[key], 1)
    check_int_range("train_gan.seed", cfg["seed"], 0)
    check_positive("train_gan.lr", cfg["lr"])
    check_positive("train_gan.gp_weight", cfg["gp_weight"], allow_zero=True)
    betas = cfg["betas"]
    if (not isinstance(betas, list) or len(betas) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise UsageError(f"train_gan.betas={betas!r} must be a list of two numbers in [0, 1)")


def save_samples(generator: Generator, path: str, seed: int) -> None:
    """An 8 x 8 grid of generator samples from fixed latents (the generator in eval mode)."""
    generator.eval()
    z = torch.randn((64, generator.latent_dim), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        samples = generator(z.to(next(generator.parameters()).device)).cpu()
    grid = samples.view(8, 8, 28, 28).permute(0, 2, 1, 3).reshape(8 * 28, 8 * 28)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title("GAN samples")
    save_figure(fig, path)


def main():
    params = load_params()
    cfg, data = section(params, "train_gan"), section(params, "data")
    check_params(cfg)
    images, _ = load_split("data/raw", data["dataset"], "train")
    images = images[subset(len(images), data["train_size"], data["seed"])]
    torch.manual_seed(cfg["seed"])  # weight initialisation
    generator, critic = Generator(cfg["latent_dim"], cfg["width"]), Critic(cfg["width"])
    history = train_gan(generator, critic, images, epochs=cfg["epochs"], lr=cfg["lr"],
                        batch_size=cfg["batch_size"], seed=cfg["seed"],
                        device=resolve_device(params.get("device", "auto")), loss=cfg["loss"],
                        betas=tuple(cfg["betas"]), critic_steps=cfg["critic_steps"], gp_weight=cfg["gp_weight"])
    save_generator(generator, "models/gan.safetensors")
    write_csv("plots/train_gan.csv", pd.DataFrame(history))
    write_json("metrics/train_gan.json", history[-1])
    save_samples(generator, "plots/gan_samples.png", cfg["seed"])
    print(f"GAN ({cfg['loss']}): final generator loss {history[-1]['generator_loss']:.4f}, "
          f"critic loss {history[-1]['critic_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
