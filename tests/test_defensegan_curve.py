"""scripts/defensegan_curve.py on synthetic strokes: checkpoints, scores and files of a few-step curve."""

import importlib.util
from pathlib import Path

import torch
from torch import nn

from diffdefense.gan_training import train_gan
from diffdefense.models.gan import build_gan, load_generator
from test_defencegan import digits, one_thread  # noqa: F401 (one_thread: an autouse fixture, tiny models)

CPU = torch.device("cpu")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "defensegan_curve.py"
TRAINING = {"loss": "wgan-gp", "lr": 1e-4, "betas": (0.5, 0.9), "batch_size": 16, "critic_steps": 2,
            "gp_weight": 10.0, "seed": 0, "device": CPU}
DEFENCEGAN = {"L": 2, "R": 2, "lr": 10.0, "momentum": 0.7, "decay": 1.0, "seed": 0, "batch_size": 3}


def load_script():
    spec = importlib.util.spec_from_file_location("defensegan_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def networks():
    torch.manual_seed(0)
    return build_gan("dcgan", 8, 4)


def test_checkpoints_double_from_the_first():
    is_checkpoint = script.is_checkpoint
    assert [s for s in range(1, 2100) if is_checkpoint(s, 250)] == [250, 500, 1000, 2000]


def test_curve_scores_each_checkpoint_and_where_training_stops_without_changing_the_training(tmp_path):
    curve = script.curve
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()
    labels = torch.tensor([0, 1, 2])
    sets = {"clean": (digits(3, seed=1), labels), "fgsm-white": (digits(3, seed=2), labels)}
    seen = []
    generator, critic = networks()
    # 64 images at batch 16 and 2 critic steps: 2 generator steps per epoch, so the curve crosses epochs
    rows = curve(generator, critic, digits(64), classifier, sets, defencegan=DEFENCEGAN, training=TRAINING,
                 minutes=10, first=2, max_steps=5, out=tmp_path, on_row=lambda r: seen.append(len(r)))
    assert [r["steps"] for r in rows] == [2, 4, 5] and seen == [1, 2, 3]
    for row in rows:
        for name in sets:
            assert row[f"{name}_images"] == 3
            assert row[f"{name}_ci_low"] <= row[f"{name}_accuracy"] <= row[f"{name}_ci_high"]
            assert row[f"{name}_recon_error"] > 0 and row[f"{name}_seconds_per_image"] > 0
        assert 0 <= row["train_minutes"] <= row["wall_minutes"]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [f"steps-00000{s}.png" for s in (2, 4, 5)]
    saved = load_generator(tmp_path / "checkpoints" / "gan-000005.safetensors")
    # scoring works on copies: the generator trained as train_gan alone trains it (5 generator steps = 10 critic steps)
    alone, alone_critic = networks()
    train_gan(alone, alone_critic, digits(64), epochs=5, max_steps=10, **TRAINING)
    for net in (generator, saved):
        for a, b in zip(net.state_dict().values(), alone.state_dict().values()):
            torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_curve_stops_at_the_time_budget_with_a_scored_row(tmp_path):
    generator, critic = networks()
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()
    sets = {"clean": (digits(2, seed=1), torch.tensor([0, 1]))}
    rows = script.curve(generator, critic, digits(64), classifier, sets, defencegan=DEFENCEGAN, training=TRAINING,
                        minutes=1e-9, first=250, max_steps=1000)
    assert [r["steps"] for r in rows] == [1]
    script.write_readme(tmp_path, "python scripts/defensegan_curve.py --minutes 1", {"width": 4}, rows, "today")
    text = (tmp_path / "README.md").read_text()
    assert "python scripts/defensegan_curve.py --minutes 1" in text and "Machine: " in text
    assert ("| steps | train_minutes | wall_minutes | clean_accuracy | clean_ci_low | clean_ci_high "
            "| clean_recon_error |") in text
