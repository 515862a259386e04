import pytest
import torch

from diffdefense import precision
from diffdefense.defences import DiffDefense, DiffPure, check_defence_settings
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.models import UNet

SCHEDULE = LinearSchedule(20, 1e-4, 0.02)
CPU = torch.device("cpu")


@pytest.fixture
def flags(monkeypatch):
    """Pretend the CPU has the given feature flags."""
    def pretend(*names):
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(names))
    return pretend


def test_auto_picks_bf16_only_on_a_cpu_with_bf16_units(flags):
    flags("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    assert precision.resolve_precision("p", "auto", CPU) == torch.bfloat16
    flags("avx512f", "avx512_bf16")  # bf16 instructions without AMX: 1.62x faster measured
    assert precision.resolve_precision("p", "auto", CPU) == torch.bfloat16
    flags("avx512f", "avx2")  # no bf16 units: emulated
    assert precision.resolve_precision("p", "auto", CPU) == torch.float32
    assert precision.resolve_precision("p", "fp32", CPU) == torch.float32


def test_explicit_bf16_without_units_runs_and_says_it_is_slower(flags, capsys):
    flags("avx2")
    assert precision.resolve_precision("defend.diffdefense.precision", "bf16", CPU) == torch.bfloat16
    assert "defend.diffdefense.precision=bf16" in capsys.readouterr().err
    flags("avx512_bf16")
    precision.resolve_precision("p", "bf16", CPU)
    assert capsys.readouterr().err == ""


def test_a_bad_precision_names_the_param():
    with pytest.raises(UsageError, match=r"^defend.diffdefense.precision='fp16' is not allowed; choose one of "
                                         r"\['auto', 'fp32', 'bf16'\]"):
        check_defence_settings("diffdefense", dict(variant="code", L=1, R=1, t_star=2, lr=0.02, lr_restart=25.0,
                                                   decay=0.1, seed=0, precision="fp16"), 20)
    check_defence_settings("diffpure", dict(t_star=2, seed=0, precision="auto"), 20)


def test_frozen_forward_in_bf16_matches_fp32_to_bf16_accuracy():
    torch.manual_seed(0)
    unet = UNet().eval()
    x, t = torch.rand(3, 1, 28, 28), torch.tensor(5)
    # a trained U-Net's input conv gives a nearly constant map, which bf16 would round away (FP32_LAYERS)
    with torch.no_grad():
        unet.pad_in.weight.fill_(1e-3)
        unet.pad_in.bias.fill_(0.6)
    frozen = precision.FrozenForward(unet, torch.bfloat16)
    out, reference = frozen(x, t), unet(x, t).detach()
    assert out.dtype == torch.float32
    assert not torch.equal(out, reference)  # it did run in bf16
    assert (out - reference).abs().mean() < 0.02 * reference.abs().mean()
    frozen.network.pad_in = frozen.network.pad_in.layer  # without the fp32 input conv: far off
    assert (frozen(x, t) - reference).abs().mean() > 0.1 * reference.abs().mean()
    assert precision.FrozenForward(unet, torch.float32).network is unet


@pytest.mark.parametrize("make", [
    lambda unet, p: DiffDefense(unet, SCHEDULE, L=2, R=1, t_star=3, seed=0, batch_size=2, precision=p),
    lambda unet, p: DiffPure(unet, SCHEDULE, t_star=3, seed=0, batch_size=2, precision=p),
])
def test_bf16_purifies_close_to_fp32_and_full_gradients_stay_fp32(unet, make, capsys):
    images = (torch.rand(2, 1, 28, 28) > 0.7).float()
    fp32, bf16 = make(unet, "fp32"), make(unet, "bf16")
    a, b = fp32(images), bf16(images)
    assert not torch.equal(a.images, b.images)
    assert (a.images - b.images).abs().mean() < 0.02
    # what an attacker differentiates is the fp32 network, whatever the precision
    torch.testing.assert_close(bf16.purify_with_graph(images).images, fp32.purify_with_graph(images).images,
                               rtol=0, atol=0)
