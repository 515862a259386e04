"""Training loops for the classifiers and the DDPM, with progress bars and per-epoch histories."""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .diffusion import LinearSchedule
from .evaluation import accuracy, correct
from .models import UNet
from .precision import GRADIENT_PRECISIONS, Autocast, autocast
from .progress import progress
from .seeding import seed_everything
from .settings import COUNT, POSITIVE, POSITIVE_INT, SEED, Int, Late, Num, OneOf, Setting, Settings

SCHEDULES = ("constant", "onecycle", "cyclic")
OPTIMISERS = ("sgd", "adam")
OVERFIT_DROP = 20.0  # points of robust accuracy below the best epoch's that mean catastrophic overfitting


def attack_entry(extra: dict | None = None):
    """The check of an {attack: ..., ...settings} entry (attacks.AttackEntry), imported when first used:
    training the DDPM needs no attack library."""
    from .attacks import AttackEntry
    return AttackEntry(extra or {})


CLASSIFIER_RECIPE = Settings(  # params.yaml train_classifier.<name>
    "a classifier's training recipe",
    epochs=Setting(POSITIVE_INT, meaning="passes over the training split"),
    lr=Setting(POSITIVE, meaning="learning rate (the peak, with schedule onecycle or cyclic)"),
    momentum=Setting(Num(0, 1, open_high=True), 0.9, "SGD momentum (sgd only)", optional=True),
    optimizer=Setting(OneOf(OPTIMISERS), "sgd", "sgd (with momentum) or adam (Wong et al.'s fast adversarial "
                      "training on MNIST)", optional=True),
    batch_size=Setting(POSITIVE_INT, meaning="images per step"),
    seed=Setting(SEED, meaning="weights' initialisation and batch order"),
    schedule=Setting(OneOf(SCHEDULES), "constant", "learning-rate schedule: constant (the authors'), one-cycle, or "
                     "cyclic (linear from 0 to lr at 2/5 of training, then to 0: Wong et al. 2020)", optional=True),
    adversarial=Setting(Late(attack_entry), None,
                        "{attack: <registered attack>, ...its settings}: each batch replaced by adversarial "
                        "examples made on the fly (adversarial training)", optional=True),
    precision=Setting(OneOf(GRADIENT_PRECISIONS), "fp32", "float type of the training forward passes (and of "
                      "adversarial training's attack): bf16 runs them under autocast, weights and optimiser fp32",
                      optional=True),
    robust_check=Setting(COUNT, 0, "adversarial training: PGD-20 accuracy on this many training images after "
                         "every epoch; training stops at a drop of 20 points below the best epoch and keeps that "
                         "epoch's weights (catastrophic overfitting, Wong et al. 2020); 0 = no check", optional=True),
)

DDPM_RECIPE = Settings(  # params.yaml train_ddpm
    "the DDPM's schedule and training recipe",
    timesteps=Setting(Int(1, 1000), meaning="diffusion steps of the linear schedule"),
    beta_start=Setting(Num(0, 1, True, True), meaning="first beta (below beta_end)"),
    beta_end=Setting(Num(0, 1, True, True), meaning="last beta"),
    epochs=Setting(POSITIVE_INT, meaning="passes over the training split"),
    lr=Setting(POSITIVE, meaning="Adam's learning rate (constant)"),
    batch_size=Setting(POSITIVE_INT, meaning="images per step"),
    seed=Setting(SEED, meaning="weights' initialisation, batch order and noise"),
    precision=Setting(OneOf(GRADIENT_PRECISIONS), "fp32", "float type of the training forward passes: bf16 runs "
                      "them under autocast, weights and optimiser fp32", optional=True),
)


def new_ddpm(cfg: dict, image_shape: tuple[int, ...], section: str = "train_ddpm", **overrides):
    """The DDPM that params.yaml's `section` declares, before training: its checked recipe (`overrides`
    replace settings, e.g. epochs), its schedule, and the U-Net initialised from the recipe's seed. The
    train_ddpm stage, benchmarks/bf16_training and scripts/ddpm_scale all start here."""
    recipe = DDPM_RECIPE.resolve(cfg | overrides, section)
    seed_everything(recipe.seed)  # before the weights are initialised
    return recipe, LinearSchedule(recipe.timesteps, recipe.beta_start, recipe.beta_end), UNet(image_shape)


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


POSTFIX_EVERY = 50  # steps between progress-bar loss updates; each update waits for the device


class RunningMean:
    """Weighted mean of per-batch losses, summed on the losses' device so that a training step never waits
    for the GPU; reading `value` does."""

    def __init__(self):
        self.total, self.weight = 0.0, 0

    def add(self, loss: torch.Tensor, weight: int = 1) -> None:
        """Add one batch's mean loss with its number of samples."""
        self.total, self.weight = self.total + loss.detach() * weight, self.weight + weight

    @property
    def value(self) -> float:
        """The mean so far (0 before any batch)."""
        return float(self.total) / max(self.weight, 1)


def adversarial_training(model: nn.Module, adversarial: dict, robust_check: int, images: torch.Tensor,
                         labels: torch.Tensor, device: torch.device, where: str):
    """What adversarial training hands `train_classifier`: perturb(model, x, y), the `adversarial` entry's
    attack ({attack: <registered attack>, ...its settings}) on the model being trained, and, with
    `robust_check` > 0, the catastrophic-overfitting guard robust_accuracy(model): PGD-20 at the training eps
    (step eps / 8) on the first `robust_check` training images (else None). The attack's settings are
    checked here, before any training; `where` names them in errors."""
    from .attacks import build_attack  # training the DDPM needs no attack library
    settings = dict(adversarial)
    attack_name = settings.pop("attack", None)
    build_attack(attack_name, model, settings, where)

    def perturb(model, x, y):
        return build_attack(attack_name, model, settings, where)(x, y)

    if not robust_check:
        return perturb, None
    guard = {"eps": settings["eps"], "step": settings["eps"] / 8, "steps": 20, "restarts": 1}
    x, y = images[:robust_check].to(device), labels[:robust_check].to(device)

    def robust_accuracy(model):
        return 100.0 * float(correct(model, build_attack("pgd", model, guard, where)(x, y), y, device=device).float().mean())

    return perturb, robust_accuracy


def fit_classifier(name: str, cfg: dict, images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                   test_labels: torch.Tensor, device: torch.device, *, where: str, on_epoch=None,
                   precision: str | None = None) -> tuple[nn.Module, list[dict]]:
    """Classifier `name` trained on `cfg` (a CLASSIFIER_RECIPE mapping, params train_classifier.<name>, checked
    and named `where` in errors) as the pipeline trains it: seeded before its weights are made, adversarially
    where the recipe says so, with its overfitting guard. `precision` replaces the recipe's. Returns the
    model and its history."""
    from .models import build_classifier
    from .seeding import seed_everything
    recipe = CLASSIFIER_RECIPE.resolve(cfg, where)
    seed_everything(recipe.seed)  # before the weights are initialised
    model = build_classifier(name, tuple(images.shape[1:]))
    perturb = robust_accuracy = None
    if recipe.adversarial:
        perturb, robust_accuracy = adversarial_training(model, cfg["adversarial"], recipe.robust_check, images, labels,
                                                        device, f"{where}.adversarial")
    history = train_classifier(model, images, labels, test_images, test_labels, epochs=recipe.epochs, lr=recipe.lr,
                               momentum=recipe.momentum, batch_size=recipe.batch_size, seed=recipe.seed, device=device,
                               perturb=perturb, schedule=recipe.schedule, optimizer=recipe.optimizer,
                               robust_accuracy=robust_accuracy, on_epoch=on_epoch,
                               precision=precision or recipe.precision)
    return model, history


def _scheduler(optimiser, schedule: str, lr: float, total_steps: int):
    """The per-step learning-rate scheduler of `schedule` (None: constant)."""
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=total_steps)
    if schedule == "cyclic":
        rise = total_steps * 2 // 5
        peak, fall = max(1, rise), max(1, total_steps - rise)
        return torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: step / peak if step < peak else max(0.0, (total_steps - step) / fall))
    return None


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     test_images: torch.Tensor, test_labels: torch.Tensor, *, epochs: int, lr: float,
                     momentum: float, batch_size: int, seed: int, device: torch.device,
                     perturb=None, schedule: str = "constant", optimizer: str = "sgd", robust_accuracy=None,
                     on_epoch=None, precision: str = "fp32") -> list[dict]:
    """SGD with momentum (or Adam) on cross-entropy, at a constant `lr` (the authors' recipe), on a one-cycle
    schedule peaking at `lr` (Smith & Topin, 2019: far fewer epochs to the same accuracy) or on Wong et al.'s
    cyclic one. `perturb(model, x, y)`, if given, replaces each batch by adversarial examples made on the fly
    (adversarial training). `robust_accuracy(model)`, if given, is measured after every epoch; training stops
    when it falls OVERFIT_DROP points below the best epoch's, with that epoch's weights restored.
    `on_epoch(row)`, if given, gets each epoch's row of the returned history as it ends. `precision` "bf16"
    runs the forward passes (the perturbation's too) under bf16 autocast."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    images, labels = images.to(device), labels.to(device)  # resident: no per-batch copies on a GPU
    optimiser = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
                 else torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum))
    scheduler = _scheduler(optimiser, schedule, lr, epochs * math.ceil(len(images) / batch_size))
    best_robust, best_state = -1.0, None
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        start, mean = time.perf_counter(), RunningMean()
        bar = progress(_batches(len(images), batch_size, generator), desc=f"epoch {epoch}/{epochs}", unit="batch")
        for step, idx in enumerate(bar):
            x, y = images[idx], labels[idx]
            if perturb is not None:
                x = perturb(Autocast(model) if precision == "bf16" else model, x, y)
                model.train()
            with autocast(device, precision):
                loss = F.cross_entropy(model(x).float(), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            mean.add(loss, len(idx))
            if step % POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{mean.value:.4f}", refresh=False)
        row = {"epoch": epoch, "train_loss": mean.value,
               "test_accuracy": accuracy(model, test_images, test_labels, device=device),
               "seconds": time.perf_counter() - start}
        if robust_accuracy is not None:
            # the check's random starts come from a forked generator: training's draws stay as without it
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                row["robust_accuracy"] = robust_accuracy(model)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if robust_accuracy is not None:
            if row["robust_accuracy"] > best_robust:
                best_robust, best_state = row["robust_accuracy"], copy.deepcopy(model.state_dict())
            elif row["robust_accuracy"] < best_robust - OVERFIT_DROP:
                model.load_state_dict(best_state)
                print(f"epoch {epoch}: robust accuracy {row['robust_accuracy']:.1f}% fell from {best_robust:.1f}% "
                      "(catastrophic overfitting); stopped with the best epoch's weights")
                break
    return history


def train_ddpm(unet: nn.Module, schedule: LinearSchedule, images: torch.Tensor, *, epochs: int, lr: float,
               batch_size: int, seed: int, device: torch.device, on_epoch=None, resume: dict | None = None,
               on_checkpoint=None, precision: str = "fp32") -> list[dict]:
    """Adam on the epsilon-prediction loss (Ho et al., 2020); `on_epoch(row)` as in train_classifier.
    `on_checkpoint(state)`, if given, gets after each epoch what continuing needs besides the weights (the
    epoch, Adam's state, both generators' states); `resume`, such a state with the weights already in `unet`,
    continues the run after that epoch exactly as if it had never stopped. `precision` "bf16" runs the forward
    passes under bf16 autocast."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    noise_generator = torch.Generator(device).manual_seed(seed + 1)
    unet.to(device).train()
    images = images.to(device)
    optimiser = torch.optim.Adam(unet.parameters(), lr=lr)
    first_epoch = 1
    if resume is not None:
        optimiser.load_state_dict(resume["optimiser"])
        generator.set_state(resume["generator"])
        noise_generator.set_state(resume["noise_generator"])
        first_epoch = resume["epoch"] + 1
    history = []
    for epoch in range(first_epoch, epochs + 1):
        start, mean = time.perf_counter(), RunningMean()
        bar = progress(_batches(len(images), batch_size, generator), desc=f"epoch {epoch}/{epochs}", unit="batch")
        for step, idx in enumerate(bar):
            with autocast(device, precision):
                loss = schedule.training_loss(unet, images[idx], noise_generator).float()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            mean.add(loss, len(idx))
            if step % POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{mean.value:.4f}", refresh=False)
        history.append({"epoch": epoch, "train_loss": mean.value, "seconds": time.perf_counter() - start})
        if on_epoch is not None:
            on_epoch(history[-1])
        if on_checkpoint is not None:
            on_checkpoint({"epoch": epoch, "optimiser": optimiser.state_dict(), "generator": generator.get_state(),
                           "noise_generator": noise_generator.get_state()})
    return history


@torch.no_grad()
def held_out_eps_mse(unet: nn.Module, schedule: LinearSchedule, images: torch.Tensor, *, seed: int = 0,
                     batch_size: int = 500) -> float:
    """The epsilon-prediction MSE on `images` (held out from training) at steps and noise drawn from `seed`:
    the same draws for every checkpoint, so checkpoints are compared on one sample of the loss."""
    generator = torch.Generator().manual_seed(seed)
    was_training = unet.training
    unet.eval()
    total = 0.0
    for first in range(0, len(images), batch_size):
        batch = images[first:first + batch_size]
        total += float(schedule.training_loss(unet, batch, generator)) * len(batch)
    unet.train(was_training)
    return total / len(images)
