"""The plug-and-play API: a defended classifier as one nn.Module, input checks, loading, detection."""

import re

import pytest
import torch

from diffdefense import DefendedClassifier, check_images, defended_classifier, detection_threshold, load_pipeline_models
from diffdefense.attacks import build_attack
from diffdefense.defences import DiffDefense, NoDefence
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.evaluation import accuracy
from diffdefense.models import ClassifierA, UNet, save_ddpm, save_weights

SCHEDULE = LinearSchedule(20, 1e-4, 0.02)
FAST = dict(L=2, R=2, t_star=3)


def test_three_lines_defend_a_trained_classifier(tiny_classifier, unet, mnist_test):
    images, labels = mnist_test[0][-40:], mnist_test[1][-40:]
    model = defended_classifier(tiny_classifier, unet=unet, schedule=SCHEDULE, **FAST)
    logits = model(images)
    assert isinstance(model, torch.nn.Module) and logits.shape == (40, 10)
    assert model.last_recon_error.shape == (40,) and (model.last_recon_error >= 0).all()
    with torch.no_grad():  # the defence optimises latents even under the caller's no_grad
        defended = accuracy(model, images, labels)
    assert defended == accuracy(tiny_classifier, model.purify(images).images, labels)


def test_forward_matches_the_defence_stage_for_the_same_seed(tiny_classifier, unet):
    images = torch.rand(6, 1, 28, 28)
    model = defended_classifier(tiny_classifier, unet=unet, schedule=SCHEDULE, batch_size=4, seed=3, **FAST)
    stage = DiffDefense(unet, SCHEDULE, variant="code", batch_size=4, seed=3, **FAST)(images)
    torch.testing.assert_close(model.purify(images).images, stage.images)
    torch.testing.assert_close(model(images), tiny_classifier(stage.images))


def test_registry_attacks_run_on_the_defended_model_through_bpda(tiny_classifier, unet, mnist_test):
    images, labels = mnist_test[0][-8:], mnist_test[1][-8:]
    model = defended_classifier(tiny_classifier, unet=unet, schedule=SCHEDULE, **FAST)
    x = images.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x), labels)
    grad, = torch.autograd.grad(loss, x)
    assert grad.abs().sum() > 0  # straight-through: the classifier's gradient at the purified image
    adversarial = build_attack("fgsm", model, {"eps": 0.3})(images, labels)
    assert adversarial.shape == images.shape and (adversarial - images).abs().max() <= 0.3 + 1e-6


@pytest.mark.parametrize("bad, message", [
    (torch.rand(1, 28, 28), "must have shape N x 1 x 28 x 28, got (1, 28, 28)"),
    (torch.rand(2, 3, 28, 28), "must have shape N x 1 x 28 x 28, got (2, 3, 28, 28)"),
    (torch.rand(2, 1, 32, 32), "must have shape N x 1 x 28 x 28, got (2, 1, 32, 32)"),
    (torch.rand(0, 1, 28, 28), "is an empty batch (shape (0, 1, 28, 28))"),
    (torch.rand(2, 1, 28, 28, dtype=torch.float64), "must be float32 (the model's dtype) with values in [0, 1], got float64"),
    (torch.rand(2, 1, 28, 28) * 255, "must have values in [0, 1], got [0"),
    (torch.full((1, 1, 28, 28), float("nan")), "contains NaN or infinite values"),
    (torch.ones(1, 1, 28, 28, dtype=torch.uint8), "must be float32"),
    ([[0.5]], "must be a torch.Tensor"),
])
def test_bad_tensors_are_rejected_with_what_was_expected(unet, bad, message):
    with pytest.raises(UsageError) as info:
        check_images(bad, shape=(1, 28, 28))
    assert message in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    for defence in (DiffDefense(unet, SCHEDULE, **FAST), NoDefence()):  # the shape from the U-Net, else the classifier
        with pytest.raises(UsageError, match=re.escape(message)):
            DefendedClassifier(ClassifierA(), defence)(bad)


def test_detection_threshold_of_no_errors_is_a_clear_error():
    with pytest.raises(UsageError, match=r"clean_errors must be a non-empty 1-D tensor of per-image errors, got \(0,\)"):
        detection_threshold(torch.empty(0))


def test_loading_pipeline_models_with_clear_errors(tmp_path, unet):
    with pytest.raises(UsageError, match="missing input .*classifier_A.safetensors"):
        load_pipeline_models(tmp_path)
    save_weights(ClassifierA(), tmp_path / "classifier_A.safetensors")
    save_ddpm(unet, SCHEDULE, tmp_path / "ddpm.safetensors")
    classifier, loaded, schedule = load_pipeline_models(tmp_path)
    assert schedule.num_steps == 20 and isinstance(loaded, UNet)
    data = (tmp_path / "ddpm.safetensors").read_bytes()
    (tmp_path / "ddpm.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="ddpm.safetensors"):
        load_pipeline_models(tmp_path)
    save_weights(ClassifierA(), tmp_path / "ddpm.safetensors")  # another architecture under the DDPM's name
    with pytest.raises(UsageError, match="ddpm.safetensors"):
        load_pipeline_models(tmp_path)


def test_unknown_defence_and_missing_models_are_named():
    with pytest.raises(UsageError, match="defence='magic' is not allowed"):
        defended_classifier(ClassifierA(), "magic")
    with pytest.raises(UsageError, match="needs unet= and schedule="):
        defended_classifier(ClassifierA())


def test_detection_threshold_flags_the_requested_fraction_of_clean_images():
    clean = torch.arange(100, dtype=torch.float32)
    threshold = detection_threshold(clean, 0.05)
    assert (clean > threshold).sum().item() == 5
    with pytest.raises(UsageError, match="false_positive_rate=1.5 is out of range"):
        detection_threshold(clean, 1.5)
