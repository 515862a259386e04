import math

import pytest
import torch

from diffdefense.defences.defencegan import DefenceGAN
from diffdefense.errors import UsageError
from diffdefense.gan_training import train_gan
from diffdefense.models.gan import Critic, Generator, OriginalGenerator, build_gan, load_generator, save_generator
from diffdefense.models import save_weights

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: with several threads on a busy machine the threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def digits(n: int, seed: int = 0) -> torch.Tensor:
    """Blurry bright strokes on black, MNIST-like enough for a tiny GAN."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    for i in range(n):
        r, c = torch.randint(6, 20, (2,), generator=g).tolist()
        x[i, 0, r - 4:r + 4, c - 1:c + 2] = 1.0
        x[i, 0, r - 4:r - 2, c - 4:c + 4] = 1.0
    return x


@pytest.fixture(scope="module")
def generator():
    """A tiny generator trained for 40 steps on synthetic strokes (well under a second)."""
    torch.manual_seed(0)
    gen, critic = Generator(latent_dim=8, width=8), Critic(width=8)
    train_gan(gen, critic, digits(64), epochs=10, lr=1e-3, batch_size=16, seed=0, device=CPU)
    return gen.eval()


def defence(generator, **kw):
    settings = dict(L=20, R=3, lr=10.0, batch_size=4, seed=0) | kw
    return DefenceGAN(generator, **settings)


def start_mse(d: DefenceGAN, images: torch.Tensor) -> torch.Tensor:
    """Per image, the best MSE among the R random starts before any step."""
    with torch.no_grad():
        x0 = d.network(d.start_points(len(images)))
    mse = (x0 - images.repeat_interleave(d.R, 0)).pow(2).flatten(1).mean(1)
    return mse.view(len(images), d.R).min(1).values


def test_reconstruction_lowers_the_mse_from_the_random_starts(generator):
    images = digits(6, seed=1)
    d = defence(generator)
    out = d(images)
    before = start_mse(d, images)
    assert (out.recon_error < before).all(), (before, out.recon_error)
    assert out.recon_error.mean() < 0.9 * before.mean()
    # the reported error is the MSE of the returned image (which lies in [0, 1] already: sigmoid output)
    torch.testing.assert_close(out.recon_error, (out.images - images).pow(2).flatten(1).mean(1))


def test_starts_are_drawn_near_the_centre_as_in_the_authors_code():
    """Defense-GAN's code draws z_0 with std sqrt(1/d), not from the N(0, I) prior."""
    d = DefenceGAN(Generator(latent_dim=64, width=4), L=1, R=50)
    z = d.start_points(4)
    assert z.shape == (200, 64)
    assert abs(z.std().item() - 64 ** -0.5) < 0.01


def test_untrained_generator_also_lowers_the_mse():
    torch.manual_seed(1)
    d = defence(Generator(latent_dim=8, width=4), L=10, R=2)
    images = digits(3, seed=2)
    assert (d(images).recon_error < start_mse(d, images)).all()


def test_shapes_range_determinism_and_frozen_generator(generator):
    images = torch.rand(5, 1, 28, 28)
    d = defence(generator, L=5)
    out = d(images)
    assert out.images.shape == images.shape and out.recon_error.shape == (5,)
    assert out.images.min() >= 0 and out.images.max() <= 1
    assert not d.network.training and not any(p.requires_grad for p in d.network.parameters())
    torch.testing.assert_close(out.images, defence(generator, L=5)(images).images)
    assert not torch.allclose(out.images, defence(generator, L=5, seed=1)(images).images)


def test_result_does_not_depend_on_batching(generator):
    images = digits(4, seed=4)
    one = defence(generator, batch_size=1)(images)
    four = defence(generator, batch_size=4)(images)
    torch.testing.assert_close(one.images, four.images, atol=1e-5, rtol=0)
    torch.testing.assert_close(one.recon_error, four.recon_error, atol=1e-6, rtol=0)


def step_sizes(d: DefenceGAN, images: torch.Tensor) -> torch.Tensor:
    """The step size of each of the L updates, read back from the latents the generator was called with:
    with momentum 0 an update is z <- z - eta grad, so eta = <z_i - z_i+1, grad_i> / <grad_i, grad_i>."""
    seen = []
    hook = d.network.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    d(images)
    hook.remove()
    targets, sizes = images.repeat_interleave(d.R, 0), []
    for before, after in zip(seen, seen[1:]):  # L + 1 calls: one per step, then the final projection
        z = before.clone().requires_grad_(True)
        grad, = torch.autograd.grad((d.network(z) - targets).pow(2).flatten(1).mean(1).sum(), z)
        sizes.append(((before - after) * grad).sum() / grad.pow(2).sum())
    return torch.stack(sizes)


def test_decay_1_keeps_the_step_size_constant_over_all_L_steps(generator):
    """decay 1.0 is what the authors' code runs (its decay never fires); 0.1 drops once, after ceil(0.8 L)."""
    images = digits(2, seed=5)
    constant = step_sizes(defence(generator, L=10, R=2, momentum=0.0, decay=1.0), images)
    torch.testing.assert_close(constant, torch.full((10,), 10.0), rtol=1e-3, atol=0)
    staircase = step_sizes(defence(generator, L=10, R=2, momentum=0.0, decay=0.1), images)
    torch.testing.assert_close(staircase, torch.tensor([10.0] * 8 + [1.0] * 2), rtol=1e-3, atol=0)


@pytest.mark.parametrize("kw, message", [
    ({"L": 0}, r"^L=0 is out of range; expected an integer >= 1"),
    ({"R": 0}, r"^R=0 is out of range; expected an integer >= 1"),
    ({"L": 2.5}, r"^L=2.5 is out of range"),
    ({"lr": 0}, r"^lr=0 is out of range; expected a number > 0"),
    ({"lr": -1.0}, r"^lr=-1.0 is out of range"),
    ({"momentum": 1.0}, r"^momentum=1.0 is out of range"),
    ({"decay": 0}, r"^decay=0 is out of range"),
    ({"batch_size": 0}, r"^batch_size=0 is out of range; expected an integer >= 1"),
])
def test_bad_params_are_rejected(generator, kw, message):
    with pytest.raises(UsageError, match=message):
        defence(generator, **kw)


def test_generator_save_load_round_trip(generator, tmp_path):
    path = tmp_path / "gan.safetensors"
    save_generator(generator, path)
    loaded = load_generator(path, CPU)
    assert (loaded.latent_dim, loaded.width) == (8, 8) and not loaded.training
    z = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), generator(z))


def n_weights(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_original_networks_have_the_authors_layer_sizes():
    """kabkabm/defensegan, models/dataset_models.py at NET_DIM 64, latent 128: counted layer by layer."""
    d, w, k = 128, 64, 5 * 5
    generator = d * 4 * 4 * 4 * w + 4 * 4 * 4 * w  # Linear to 4 x 4 x 4w, with biases
    generator += (4 * w * 2 * w * k + 2 * w) + (2 * w * w * k + w) + (w * 1 * k + 1)  # three 5x5 transposed convs
    critic = (1 * w * k + w) + (w * 2 * w * k + 2 * w) + (2 * w * 4 * w * k + 4 * w)  # three 5x5 convs
    critic += 4 * 4 * 4 * w + 1  # Linear from 4 x 4 x 4w to one score
    gen, crit = build_gan("original", d, w)
    assert (n_weights(gen), n_weights(crit)) == (generator, critic) == (1_554_177, 1_030_145)
    with torch.no_grad():
        x = gen.eval()(torch.randn(2, d))
    assert x.shape == (2, 1, 28, 28) and x.min() >= 0 and x.max() <= 1 and crit(x).shape == (2,)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in [*gen.modules(), *crit.modules()])


def test_one_wgan_gp_step_trains_the_original_networks():
    torch.manual_seed(0)
    gen, critic = build_gan("original", 8, 4)
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in (gen, critic)]
    history = train_gan(gen, critic, digits(4), epochs=1, lr=1e-4, batch_size=2, seed=0, device=CPU, loss="wgan-gp",
                        betas=(0.5, 0.9), critic_steps=1, max_steps=1)
    assert history[0]["critic_steps"] == history[0]["generator_steps"] == 1
    assert math.isfinite(history[0]["generator_loss"]) and math.isfinite(history[0]["critic_loss"])
    for net, old in zip((gen, critic), before):  # (the critic's output bias cancels in E[D(fake)] - E[D(real)])
        assert all(not torch.equal(v, old[k]) for k, v in net.state_dict().items() if k.endswith("weight"))


def test_original_generator_save_load_round_trip_and_older_files(tmp_path):
    gen = build_gan("original", 8, 4)[0].eval()
    save_generator(gen, tmp_path / "gan.safetensors")
    loaded = load_generator(tmp_path / "gan.safetensors")
    assert isinstance(loaded, OriginalGenerator) and (loaded.latent_dim, loaded.width) == (8, 4)
    z = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), gen(z))
    # weights saved before the architecture was recorded are the DCGAN's
    save_weights(Generator(8, 4), tmp_path / "old.safetensors", {"latent_dim": 8, "width": 4})
    assert type(load_generator(tmp_path / "old.safetensors")) is Generator
    save_weights(gen, tmp_path / "future.safetensors", {"architecture": "stylegan", "latent_dim": 8, "width": 4})
    with pytest.raises(UsageError, match=r"future.safetensors holds a generator of architecture 'stylegan'"):
        load_generator(tmp_path / "future.safetensors")


def test_loading_bad_generator_files_names_the_problem(tmp_path):
    with pytest.raises(UsageError, match=r"missing input .*gan.safetensors.*'train_gan'"):
        load_generator(tmp_path / "gan.safetensors")
    bare = tmp_path / "bare.safetensors"
    save_weights(Generator(8, 4), bare)
    with pytest.raises(UsageError, match="no latent_dim/width metadata"):
        load_generator(bare)
    wrong = tmp_path / "wrong.safetensors"
    save_weights(Critic(4), wrong, {"latent_dim": 8, "width": 4})
    with pytest.raises(UsageError, match="does not fit Generator"):
        load_generator(wrong)


def test_generator_output_and_size():
    gen = Generator().eval()  # defaults
    with torch.no_grad():
        x = gen(torch.randn(2, gen.latent_dim))
    assert x.shape == (2, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert Critic()(x).shape == (2,)


@pytest.mark.parametrize("loss, critic_steps", [("dcgan", 1), ("wgan-gp", 2)])
def test_train_gan_history_and_determinism(loss, critic_steps):
    def run():
        torch.manual_seed(0)
        gen, critic = Generator(latent_dim=8, width=4), Critic(width=4)
        history = train_gan(gen, critic, digits(64), epochs=3, lr=2e-4, batch_size=16, seed=0, device=CPU,
                            loss=loss, critic_steps=critic_steps)
        return gen, history

    gen, history = run()
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for h in history:
        assert set(h) == {"epoch", "generator_loss", "critic_loss", "critic_steps", "generator_steps", "seconds"}
        assert math.isfinite(h["generator_loss"]) and math.isfinite(h["critic_loss"])
        assert h["critic_steps"] == 4 and h["generator_steps"] == 4 // critic_steps
    assert not gen.training
    gen2, history2 = run()
    assert [h["generator_loss"] for h in history] == [h["generator_loss"] for h in history2]
    for a, b in zip(gen.state_dict().values(), gen2.state_dict().values()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_dcgan_discriminator_learns_to_separate():
    torch.manual_seed(0)
    gen, critic = Generator(latent_dim=8, width=4), Critic(width=4)
    history = train_gan(gen, critic, digits(64), epochs=6, lr=1e-3, batch_size=16, seed=0, device=CPU)
    assert history[-1]["critic_loss"] < history[0]["critic_loss"]


def test_train_gan_rejects_bad_settings():
    with pytest.raises(UsageError, match=r"train_gan.loss='wgan' is not allowed"):
        train_gan(Generator(8, 4), Critic(4), digits(4), epochs=1, lr=1e-3, batch_size=2, seed=0, device=CPU,
                  loss="wgan")
    with pytest.raises(UsageError, match=r"train_gan.epochs=0 is out of range"):
        train_gan(Generator(8, 4), Critic(4), digits(4), epochs=0, lr=1e-3, batch_size=2, seed=0, device=CPU)


def test_stage_param_checks_and_sample_grid(tmp_path):
    from diffdefense.gan_training import GAN_RECIPE
    from stages.train_gan import save_samples

    def check_params(cfg):
        GAN_RECIPE.check("train_gan", cfg)

    good = dict(architecture="dcgan", loss="dcgan", epochs=1, lr=2e-4, betas=[0.5, 0.999], batch_size=64,
                latent_dim=128, width=32, critic_steps=1, gp_weight=10.0, seed=0)
    check_params(good)
    with pytest.raises(UsageError, match=r"train_gan.epoch is not a setting of train_gan; allowed: \['architecture'"):
        check_params(good | {"epoch": 1})
    with pytest.raises(UsageError, match=r"train_gan.betas=\[0.5\] must be a list of 2 items"):
        check_params(good | {"betas": [0.5]})
    with pytest.raises(UsageError, match=r"train_gan.width=0 is out of range"):
        check_params(good | {"width": 0})
    with pytest.raises(UsageError, match=r"architecture='big' is not allowed; choose one of \['dcgan', 'original'\]"):
        check_params(good | {"architecture": "big"})
    with pytest.raises(UsageError, match=r"^architecture='big' is not allowed"):
        build_gan("big", 8, 4)
    path = tmp_path / "plots" / "gan_samples.png"
    save_samples(Generator(8, 4), str(path), seed=0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
