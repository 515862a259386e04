import pytest
import torch

from diffdefense.defences import DEFENCES, WEIGHTS, Defence, DefenceContext, DiffDefense, build_defence
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError


SCHEDULE = LinearSchedule(20, 1e-4, 0.02)


def defence(unet, **kw):
    settings = dict(variant="code", L=3, R=2, t_star=4, batch_size=4, seed=0) | kw
    return DiffDefense(unet, SCHEDULE, **settings)


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_shapes_range_and_determinism(unet, variant):
    images = torch.rand(5, 1, 28, 28)
    out = defence(unet, variant=variant)(images)
    assert out.images.shape == images.shape and out.recon_error.shape == (5,)
    assert out.images.min() >= 0 and out.images.max() <= 1
    again = defence(unet, variant=variant)(images)
    torch.testing.assert_close(out.images, again.images)
    other_seed = defence(unet, variant=variant, seed=1)(images)
    assert not torch.allclose(out.images, other_seed.images)


def test_result_does_not_depend_on_batching(unet):
    images = torch.rand(5, 1, 28, 28)
    a = defence(unet, batch_size=5)(images)
    b = defence(unet, batch_size=2)(images)
    torch.testing.assert_close(a.images, b.images, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.recon_error, b.recon_error, atol=1e-6, rtol=0)


@pytest.mark.parametrize("variant, lr", [("code", 0.02), ("paper", 300.0)])
def test_more_iterations_lower_the_reconstruction_error(unet, variant, lr):
    images = (torch.rand(4, 1, 28, 28) > 0.7).float()  # binary, like MNIST strokes
    errors = [defence(unet, variant=variant, L=L, R=1, lr=lr)(images).recon_error.mean().item() for L in (1, 2, 4)]
    assert errors[2] < errors[1] < errors[0], errors


def test_best_of_r_starts_is_no_worse(unet):
    images = torch.rand(4, 1, 28, 28)
    one = defence(unet, R=1)(images).recon_error
    five = defence(unet, R=5)(images).recon_error
    assert five.mean() <= one.mean()


@pytest.mark.parametrize("kw, message", [
    ({"L": 0}, r"^L=0 is out of range; expected an integer >= 1"),
    ({"R": 0}, r"^R=0 is out of range; expected an integer >= 1"),
    ({"t_star": 0}, r"^t_star=0 is out of range; expected an integer in \[1, 20\]"),
    ({"t_star": 21}, r"^t_star=21 is out of range; expected an integer in \[1, 20\]"),
    ({"variant": "fast"}, r"^variant='fast' is not allowed; choose one of \['code', 'paper'\]"),
])
def test_bad_params_are_rejected(unet, kw, message):
    with pytest.raises(UsageError, match=message):
        defence(unet, **kw)


@pytest.fixture(scope="module")
def models_dir(unet, tmp_path_factory):
    """A models/ directory holding every defence's weights files, as the pipeline leaves it."""
    from diffdefense.models import save_ddpm
    from diffdefense.models.gan import Generator, save_generator

    path = tmp_path_factory.mktemp("models")
    save_ddpm(unet, SCHEDULE, path / "ddpm.safetensors")
    torch.manual_seed(0)
    save_generator(Generator(latent_dim=8, width=8), path / "gan.safetensors")
    return path


def test_every_registered_defence_builds_from_its_weights_and_purifies(models_dir):
    ctx = DefenceContext(models_dir, torch.device("cpu"), batch_size=3)
    images = torch.rand(4, 1, 28, 28)
    small = {"diffdefense": {"L": 2, "R": 1, "t_star": 2}, "defencegan": {"L": 2, "R": 1},
             "diffpure": {"t_star": 2}, "binarize": {}, "none": {}}
    assert set(small) == set(DEFENCES)
    for name, settings in small.items():
        built = build_defence(name, settings, ctx)
        assert isinstance(built, Defence) and WEIGHTS[name] == type(built).weights
        out = built(images)
        assert out.images.shape == images.shape and out.recon_error.shape == (4,)
        assert built.differentiable == (name in ("diffdefense", "diffpure", "none"))


def test_errors_of_a_defence_built_from_params_name_the_param(models_dir):
    ctx = DefenceContext(models_dir, torch.device("cpu"))
    with pytest.raises(UsageError, match=r"^defend.diffdefense.L=0 is out of range; expected an integer >= 1$"):
        build_defence("diffdefense", {"L": 0}, ctx)
    with pytest.raises(UsageError, match=r"^defend.defencegan.foo is not a setting of defend.defencegan; allowed: \['L', 'R'"):
        build_defence("defencegan", {"foo": 1}, ctx)
    with pytest.raises(UsageError, match=r"^defend.batch_size=0 is out of range"):
        DefenceContext(models_dir, torch.device("cpu"), batch_size=0)


def test_the_library_defaults_are_the_pipelines():
    """A Python user who builds a defence or an attack with its defaults gets what `dvc repro` runs
    (params.yaml): every declared default that params.yaml also gives is equal to it."""
    import inspect
    from pathlib import Path

    import yaml

    from diffdefense.adaptive import EOT_PGD
    from diffdefense.attacks import ATTACKS

    all_params = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    params = all_params["defend"]
    declared = [(f"defend.{name}", cls.settings, params[name]) for name, cls in DEFENCES.items()]
    declared += [(f"attack.settings.{name}", ATTACKS[name].SETTINGS, s) for name, s in all_params["attack"]["settings"].items()]
    declared += [("adaptive.attack", EOT_PGD, all_params["adaptive"]["attack"])]
    declared += [(f"adaptive.surrogate.{name}", ATTACKS[s["attack"]].SETTINGS,
                  {k: v for k, v in s.items() if k not in ("attack", "classifiers")})
                 for name, s in all_params["adaptive"]["surrogate"].items()
                 if s["attack"] not in all_params["attack"]["settings"]]  # one attack, two budgets: attack.settings
    for where, settings, given in declared:
        defaults = settings.defaults()
        for key, value in given.items():
            assert defaults[key] == value, f"{where}.{key}: library {defaults[key]!r}, params {value!r}"
    assert len(declared) > 10
    assert inspect.signature(Defence).parameters["batch_size"].default == params["batch_size"]
    assert DefenceContext.__dataclass_fields__["batch_size"].default == params["batch_size"]


def test_only_the_no_defence_is_the_identity():
    assert [name for name, cls in DEFENCES.items() if cls.identity] == ["none"]


def test_the_trained_schedule_variant_runs_the_unet_at_the_trained_indices(unet):
    """code_schedule="trained": the U-Net is told the trained index of each sub-step (0, r, 2r, ...), the
    authors' rebuilt schedule tells it 0..T*-1; both reconstruct in range."""
    seen = []
    hook = unet.register_forward_pre_hook(lambda module, args: seen.append(int(args[1].reshape(-1)[0])))
    images = torch.rand(2, 1, 28, 28)
    try:
        for code_schedule in ("trained", "rebuilt"):
            seen.clear()
            defence = DiffDefense(unet, SCHEDULE, L=1, R=1, t_star=4, code_schedule=code_schedule, precision="fp32")
            out = defence(images)
            assert out.images.min() >= 0 and out.images.max() <= 1
            ratio = SCHEDULE.num_steps // 4 if code_schedule == "trained" else 1
            assert seen == [k * ratio for k in reversed(range(4))]
    finally:
        hook.remove()


def test_building_a_defence_leaves_the_callers_network_as_it_was(unet):
    """The defence freezes and converts its own copy: the caller's U-Net keeps its mode, gradients,
    memory format and values (it may go on training)."""
    unet.train()
    before = {name: p.detach().clone() for name, p in unet.named_parameters()}
    formats = {name: p.is_contiguous() for name, p in unet.named_parameters()}
    try:
        for cls in (DiffDefense, DEFENCES["diffpure"]):
            defence = cls(unet, SCHEDULE, t_star=2, precision="fp32")
            defence(torch.rand(1, 1, 28, 28))
            assert unet.training and all(p.requires_grad for p in unet.parameters())
            assert {name: p.is_contiguous() for name, p in unet.named_parameters()} == formats
            assert all(torch.equal(p, before[name]) for name, p in unet.named_parameters())
            assert not defence.network.training and not any(p.requires_grad for p in defence.network.parameters())
    finally:
        unet.eval()
