"""Adaptive attacks through a defence, robust accuracy over an ensemble, and the baseline defences."""

import pytest
import torch
import torch.nn.functional as F

from diffdefense.adaptive import bpda_eot_pgd, robust_accuracy
from diffdefense.attacks import build_attack
from diffdefense.defended import DefendedClassifier
from diffdefense.defences import Binarize, DiffDefense, DiffPure, NoDefence
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.evaluation import accuracy

SCHEDULE = LinearSchedule(20, 1e-4, 0.02)


def test_bpda_gradient_is_nonzero_and_points_uphill(tiny_classifier, unet, mnist_test):
    images, labels = mnist_test[0][-16:], mnist_test[1][-16:]
    for defence in (NoDefence(), DiffDefense(unet, SCHEDULE, L=2, R=1, t_star=3)):
        model = DefendedClassifier(tiny_classifier, defence)
        x = images.clone().requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x), labels), x)
        assert grad.abs().sum() > 0
    model = DefendedClassifier(tiny_classifier, NoDefence())
    x = images.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels)
    grad, = torch.autograd.grad(loss, x)
    with torch.no_grad():
        assert F.cross_entropy(model((images + 0.01 * grad.sign()).clamp(0, 1)), labels) > loss


def test_adaptive_attack_beats_the_non_adaptive_one_on_the_same_points(tiny_classifier, mnist_test):
    images, labels = mnist_test[0][-32:], mnist_test[1][-32:]
    model = DefendedClassifier(tiny_classifier, Binarize())
    transferred = build_attack("pgd", tiny_classifier, {"eps": 0.3, "step": 0.05, "steps": 10, "restarts": 1})(
        images, labels)
    adaptive = bpda_eot_pgd(model, images, labels, eps=0.3, step=0.05, steps=10, eot_samples=1)
    assert (adaptive - images).abs().max() <= 0.3 + 1e-6 and adaptive.min() >= 0 and adaptive.max() <= 1
    assert accuracy(model, adaptive, labels) <= accuracy(model, transferred, labels)


def test_robust_accuracy_is_the_worst_case_per_point():
    correct = {"a": torch.tensor([1, 1, 0, 1]), "b": torch.tensor([1, 0, 1, 1])}
    assert robust_accuracy(correct) == 50.0


@pytest.mark.parametrize("make", [NoDefence, Binarize, lambda: None])
def test_baselines_map_unit_images_to_unit_images_of_the_same_shape(make, unet):
    defence = make() or DiffPure(unet, SCHEDULE, t_star=5, batch_size=3)
    images = torch.rand(5, 1, 28, 28)
    out = defence(images)
    assert out.images.shape == images.shape and out.recon_error.shape == (5,)
    assert out.images.min() >= 0 and out.images.max() <= 1


def test_diffpure_is_batch_independent_and_seeded(unet):
    images = torch.rand(5, 1, 28, 28)
    a = DiffPure(unet, SCHEDULE, t_star=5, batch_size=5)(images).images
    b = DiffPure(unet, SCHEDULE, t_star=5, batch_size=2)(images).images
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert not torch.allclose(a, DiffPure(unet, SCHEDULE, t_star=5, seed=1)(images).images)


def test_bad_baseline_params_are_named(unet):
    with pytest.raises(UsageError, match=r"defend.binarize.threshold=1.5 is out of range"):
        Binarize(1.5)
    with pytest.raises(UsageError, match=r"defend.diffpure.t_star=21 is out of range; expected an integer in \[1, 20\]"):
        DiffPure(unet, SCHEDULE, t_star=21)
