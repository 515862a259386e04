"""The classifier training loop's schedules and its catastrophic-overfitting guard."""

import torch

from diffdefense.models import ClassifierA
from diffdefense.training import _scheduler, train_classifier


def _toy_data(n=64):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def _train(robust_accuracy=None, epochs=2, precision="fp32"):
    torch.manual_seed(0)
    model = ClassifierA()
    images, labels = _toy_data()
    history = train_classifier(model, images, labels, images[:16], labels[:16], epochs=epochs, lr=0.01,
                               momentum=0.9, batch_size=16, seed=0, device=torch.device("cpu"),
                               perturb=lambda m, x, y: (x + 0.1 * torch.rand_like(x)).clamp(0, 1),
                               schedule="cyclic", optimizer="adam", robust_accuracy=robust_accuracy,
                               precision=precision)
    return model, history


def test_cyclic_schedule_rises_to_lr_at_two_fifths_and_falls_to_zero():
    optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    scheduler = _scheduler(optimiser, "cyclic", 0.5, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    lrs.append(optimiser.param_groups[0]["lr"])
    assert lrs[0] == 0 and lrs[4] == 0.5 and lrs[10] == 0
    assert lrs[:5] == sorted(lrs[:5]) and lrs[4:] == sorted(lrs[4:], reverse=True)


def test_the_robustness_check_leaves_training_as_without_it():
    """The check draws random starts; training's own draws (perturbations, batches) must not move."""
    def noisy_check(model):
        return float(torch.rand(1)) + 50.0  # consumes the global generator, never a drop of 20 points

    plain, _ = _train()
    checked, history = _train(noisy_check)
    assert all("robust_accuracy" in row for row in history)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, checked.state_dict()[name]), name


def test_a_drop_in_robust_accuracy_stops_training_with_the_best_epochs_weights():
    readings = iter([60.0, 70.0, 30.0])  # epoch 3 collapses: catastrophic overfitting
    snapshots = []

    def check(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(readings)

    model, history = _train(check, epochs=5)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, snapshots[1][name]), name  # epoch 2's weights, the best


def test_bf16_training_runs_the_forward_in_bf16_and_keeps_fp32_weights():
    """bf16 autocast changes the arithmetic (other weights than fp32's), not the weights' type; the
    perturbation sees a model whose output is fp32."""
    seen = []

    def perturb(model, x, y):
        seen.append(model(x).dtype)
        return x

    torch.manual_seed(0)
    images, labels = _toy_data()
    models = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        models[precision] = ClassifierA()
        history = train_classifier(models[precision], images, labels, images[:16], labels[:16], epochs=1, lr=0.01,
                                   momentum=0.9, batch_size=16, seed=0, device=torch.device("cpu"), perturb=perturb,
                                   precision=precision)
        assert history[0]["train_loss"] > 0
    assert set(seen) == {torch.float32}
    assert all(t.dtype == torch.float32 for t in models["bf16"].state_dict().values() if t.is_floating_point())
    assert any(not torch.equal(a, b) for a, b in zip(models["fp32"].state_dict().values(),
                                                     models["bf16"].state_dict().values()))


def test_bf16_ddpm_training_gets_a_loss_close_to_fp32s():
    from diffdefense.diffusion import LinearSchedule
    from diffdefense.models import UNet
    from diffdefense.training import train_ddpm

    images, _ = _toy_data(32)
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        history = train_ddpm(UNet((1, 28, 28)), LinearSchedule(10, 1e-4, 0.02), images, epochs=1, lr=1e-3,
                             batch_size=16, seed=0, device=torch.device("cpu"), precision=precision)
        losses[precision] = history[0]["train_loss"]
    assert losses["fp32"] != losses["bf16"] and abs(losses["bf16"] - losses["fp32"]) < 0.05 * losses["fp32"]
