"""The library end to end on synthetic 3 x 32 x 32 colour images: every network takes the shape of its
data, keeps it through saving and loading, and the defences, attacks and figures work on it."""

import pytest
import torch

from diffdefense import defended_classifier
from diffdefense.attacks import build_attack
from diffdefense.defences import DefenceGAN, DiffDefense
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.evaluation import accuracy
from diffdefense.figures import image_grid
from diffdefense.models import UNet, build_classifier, load_classifier, load_ddpm, save_ddpm, save_weights
from diffdefense.models.gan import Generator, load_generator, save_generator
from diffdefense.training import train_classifier, train_ddpm

SHAPE = (3, 32, 32)
CPU = torch.device("cpu")


def colour_squares(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class k: a bright 8 x 8 square in channel k % 3, at one of four places set by k // 3, on noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    images = 0.2 * torch.rand((n, *SHAPE), generator=generator)
    for i, k in enumerate(labels.tolist()):
        row, col = divmod(k // 3, 2)
        images[i, k % 3, 4 + 16 * row:12 + 16 * row, 4 + 16 * col:12 + 16 * col] = 1.0
    return images, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Classifier A and a DDPM trained briefly on the colour squares, saved and loaded back."""
    path = tmp_path_factory.mktemp("models")
    images, labels = colour_squares(320, seed=0)
    torch.manual_seed(0)
    classifier = build_classifier("A", SHAPE)
    train_classifier(classifier, images[:256], labels[:256], images[256:], labels[256:], epochs=3, lr=0.05,
                     momentum=0.9, batch_size=32, seed=0, device=CPU)
    save_weights(classifier, path / "classifier_A.safetensors")
    schedule = LinearSchedule(20, 1e-4, 0.02)
    unet = UNet(SHAPE)
    train_ddpm(unet, schedule, images[:64], epochs=1, lr=1e-3, batch_size=32, seed=0, device=CPU)
    save_ddpm(unet, schedule, path / "ddpm.safetensors")
    return path, images[256:], labels[256:]


def test_networks_keep_their_image_shape_through_saving_and_loading(trained):
    path, images, labels = trained
    classifier = load_classifier("A", path / "classifier_A.safetensors")
    unet, schedule = load_ddpm(path / "ddpm.safetensors")
    assert classifier.image_shape == unet.image_shape == SHAPE
    assert accuracy(classifier, images, labels) >= 80  # the squares are easy: the 3-channel net learnt them
    assert unet(images[:2], torch.tensor(5)).shape == (2, *SHAPE)
    generator = Generator(latent_dim=8, width=4, image_shape=SHAPE)
    save_generator(generator, path / "gan.safetensors")
    assert load_generator(path / "gan.safetensors").image_shape == SHAPE


def test_defences_attacks_and_figures_on_colour_images(trained, tmp_path):
    path, images, labels = trained
    classifier = load_classifier("A", path / "classifier_A.safetensors")
    unet, schedule = load_ddpm(path / "ddpm.safetensors")
    x, y = images[:4], labels[:4]

    purified = DiffDefense(unet, schedule, L=2, R=2, t_star=3)(x)
    assert purified.images.shape == x.shape and purified.recon_error.shape == (4,)
    gan = DefenceGAN(Generator(latent_dim=8, width=4, image_shape=SHAPE).eval(), L=3, R=2)
    assert gan(x).images.shape == x.shape

    model = defended_classifier(classifier, unet=unet, schedule=schedule, L=2, R=1, t_star=2)
    assert model(x).shape == (4, 10)
    with pytest.raises(UsageError, match=r"images must have shape N x 3 x 32 x 32, got \(4, 1, 28, 28\)"):
        model(torch.rand(4, 1, 28, 28))

    for name, settings in (("fgsm", {"eps": 0.1}), ("square", {"eps": 0.1, "max_iter": 2})):
        adversarial = build_attack(name, classifier, settings)(x, y)
        assert adversarial.shape == x.shape and (adversarial - x).abs().max() <= 0.1 + 1e-6

    grid = tmp_path / "grid.png"
    image_grid({"clean": x, "DiffDefense": purified.images}, grid, "colour")
    assert grid.read_bytes()[:4] == b"\x89PNG"
