"""Adaptive attacks through a defence, robust accuracy over an ensemble, and the baseline defences."""

import copy

import pytest
import torch
import torch.nn.functional as F

from diffdefense.adaptive import eot_pgd, evaluation_images, robust_over_draws
from diffdefense.attacks.binarize_pgd import step_sizes
from diffdefense.data import subset
from diffdefense.attacks import build_attack
from diffdefense.defended import DefendedClassifier
from diffdefense.defences import Binarize, DiffDefense, DiffPure, NoDefence
from diffdefense.diffusion import LinearSchedule
from diffdefense.errors import UsageError
from diffdefense.evaluation import accuracy
from diffdefense.statistics import mcnemar, mcnemar_detectable_difference
from diffdefense.settings import SEED, Setting, Settings

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
    adaptive = eot_pgd(model, images, labels, eps=0.3, step=0.05, steps=10, eot_samples=1, final_step=None)
    assert (adaptive - images).abs().max() <= 0.3 + 1e-6 and adaptive.min() >= 0 and adaptive.max() <= 1
    assert accuracy(model, adaptive, labels) <= accuracy(model, transferred, labels)


def test_written_out_adam_matches_torch_optim():
    from diffdefense.defences.diffdefense import Adam

    torch.manual_seed(0)
    z, grads = torch.randn(6), [torch.randn(6) for _ in range(3)]
    ours, reference = Adam(betas=(0.5, 0.999)), z.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([reference], lr=0.02, betas=(0.5, 0.999))
    for lr, grad in zip([0.02, 25.0, 10.0], grads):
        z = ours.step(z, grad, lr)
        optimiser.param_groups[0]["lr"], reference.grad = lr, grad
        optimiser.step()
    torch.testing.assert_close(z, reference.detach())


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_full_gradient_through_diffdefense_matches_finite_differences(unet, variant):
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # finite differences need double precision
    try:
        defence = DiffDefense(copy.deepcopy(unet).double(), SCHEDULE, variant=variant, L=3, R=2, t_star=3,
                              precision="fp32")  # the frozen path in bf16 would differ from the graph
        generator = torch.Generator().manual_seed(0)
        x, direction, weights = (torch.rand(2, 1, 28, 28, generator=generator) for _ in range(3))
        x = 0.25 + 0.5 * x

        def f(images):
            return (weights * defence.purify_with_graph(images).images).sum()

        xg = x.clone().requires_grad_(True)
        grad, = torch.autograd.grad(f(xg), xg)
        h = 1e-6  # central differences: truncation error O(h^2) against rounding O(1e-16 / h)
        with torch.no_grad():
            numeric = (f(x + h * direction) - f(x - h * direction)) / (2 * h)
        assert abs((grad * direction).sum().item() - numeric.item()) <= 1e-4 * max(1.0, abs(numeric.item()))
        torch.testing.assert_close(defence.purify_with_graph(x).images, defence(x).images)
    finally:
        torch.set_default_dtype(default)


def test_full_gradient_differs_from_bpda_and_needs_a_differentiable_defence(tiny_classifier, unet, mnist_test):
    images, labels = mnist_test[0][-4:], mnist_test[1][-4:]
    defence = DiffDefense(unet, SCHEDULE, L=2, R=1, t_star=3)
    grads = {}
    for gradient in ("bpda", "full"):
        x = images.clone().requires_grad_(True)
        grads[gradient], = torch.autograd.grad(
            F.cross_entropy(DefendedClassifier(tiny_classifier, defence, gradient)(x), labels), x)
    assert grads["full"].abs().sum() > 0 and not torch.allclose(grads["full"], grads["bpda"])
    with pytest.raises(UsageError, match="gradient='full' needs a defence that is differentiable end to end"):
        DefendedClassifier(tiny_classifier, Binarize(), "full")
    with pytest.raises(UsageError, match=r"gradient='exact' is not allowed; choose one of \['bpda', 'full'\]"):
        DefendedClassifier(tiny_classifier, NoDefence(), "exact")


def test_a_full_gradient_that_never_reaches_the_input_is_zero_and_the_attack_still_runs(tiny_classifier, unet,
                                                                                         mnist_test):
    # with L = 1 DiffDefense returns G(z_0) of its best random start, so no gradient reaches the image
    images, labels = mnist_test[0][-2:], mnist_test[1][-2:]
    model = DefendedClassifier(tiny_classifier, DiffDefense(unet, SCHEDULE, L=1, R=2, t_star=2), "full")
    adversarial = eot_pgd(model, images, labels, eps=0.3, step=0.1, steps=2, eot_samples=1, batch_size=2, final_step=None)
    assert adversarial.shape == images.shape and (adversarial - images).abs().max() <= 0.3 + 1e-6


class DrawDependent(torch.nn.Module):
    """Image i (its first pixel holds i) is classified right unless (i + the drawn seed) % 3 == 0."""

    def __init__(self):
        super().__init__()
        self.weight, self.seed = torch.nn.Parameter(torch.zeros(1)), 0

    def redraw(self, seed):
        self.seed = seed

    def forward(self, x):
        right = (x[:, 0, 0, 0].long() + self.seed) % 3 != 0
        return torch.stack([(~right).float(), right.float()], 1)


class CountingDrawDependent(DrawDependent):
    """DrawDependent, except that an image whose first pixel is negative is always wrong; counts what it scores."""

    scored = 0

    def forward(self, x):
        self.scored += len(x)
        logits = super().forward(x)
        wrong = x[:, 0, 0, 0] < 0
        logits[wrong] = torch.tensor([1.0, 0.0])
        return logits


def test_each_image_is_scored_under_every_draw_by_worst_case_and_majority():
    images = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 1, 2, 2).contiguous()
    scores = robust_over_draws(DrawDependent(), {"a": images}, torch.ones(6, dtype=torch.long), seeds=[0, 1, 2])
    first, robust = scores.first_draw, scores.robust
    assert first["a"].tolist() == [False, True, True, False, True, True]  # seed 0 alone
    assert robust["one"].tolist() == first["a"].tolist()
    assert not robust["worst"].any()  # every image is wrong under exactly one of the three draws
    assert robust["majority"].all()
    # images 1 and 4 are right under seeds 0 and 1, wrong under 2: the last draw decided them (budget yield)
    assert scores.decided_by_last_draw.tolist() == [False, True, False, False, True, False]
    assert scores.recon_error["a"].tolist() == [0.0] * 6  # a model that keeps no reconstruction error


def test_later_draws_are_spent_only_on_images_that_can_still_be_robust():
    images = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 1, 2, 2).contiguous()
    broken = images.clone()
    broken[:3] = -1.0  # images 0-2 of the first set are wrong under every draw
    model, labels = CountingDrawDependent(), torch.ones(6, dtype=torch.long)
    first, robust, *_ = robust_over_draws(model, {"broken": broken, "a": images}, labels, seeds=[0, 1, 2])
    assert robust["majority"].tolist() == [False] * 3 + [True] * 3 and not robust["worst"].any()
    assert first["a"].tolist() == [False, True, True, False, True, True]  # every image scored under the first draw
    # first set: 6 images x 3 draws; second: 6 under the first draw, then only images 3-5 under the other two
    assert model.scored == 6 * 3 + 6 + 3 * 2


def test_the_adaptive_images_are_drawn_on_their_own_and_start_with_the_clean_set():
    images, labels = torch.arange(100.0).view(100, 1, 1, 1), torch.arange(100)
    chosen, chosen_labels = evaluation_images(images, labels, 40, seed=3)
    assert len(chosen) == 40 and len(set(chosen_labels.tolist())) == 40 and (chosen.view(-1) == chosen_labels).all()
    for test_size in (5, 16, 40):  # whatever data.test_size is, the clean set is the first test_size of them
        assert sorted(chosen_labels[:test_size].tolist()) == subset(100, test_size, 3).tolist()
    assert evaluation_images(images, labels, 10, seed=3)[1].tolist() == chosen_labels[:10].tolist()


def test_binarize_pgd_fools_the_thresholded_classifier_more_often_than_plain_pgd(tiny_classifier, mnist_test):
    images, labels = mnist_test[0][-200:], mnist_test[1][-200:]
    thresholded = DefendedClassifier(tiny_classifier, Binarize())
    budget = {"eps": 0.3, "steps": 30, "restarts": 2}
    plain = build_attack("pgd", tiny_classifier, budget | {"step": 0.03})(images, labels)
    relaxed = build_attack("binarize_pgd", tiny_classifier, budget | {"step": 0.1, "final_step": 0.01})(images, labels)
    assert (relaxed - images).abs().max() <= 0.3 + 1e-6 and relaxed.min() >= 0 and relaxed.max() <= 1
    assert accuracy(thresholded, relaxed, labels) < accuracy(thresholded, plain, labels) - 5


def test_step_sizes_fall_from_the_first_to_the_last():
    sizes = step_sizes(0.1, 0.01, 5)
    assert sizes[0] == pytest.approx(0.1) and sizes[-1] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(sizes, sizes[1:])) and step_sizes(0.05, 0.05, 3) == pytest.approx([0.05] * 3)


def test_the_detectable_difference_shrinks_with_more_images_and_fewer_discordant_ones():
    assert mcnemar_detectable_difference(1000, 100) < mcnemar_detectable_difference(300, 30)
    assert mcnemar_detectable_difference(1000, 20) < mcnemar_detectable_difference(1000, 100)
    # 20 images, 5 of them discordant: even all five one way (25 points) is not significant at 80 % power
    assert mcnemar_detectable_difference(20, 5) is None
    # Connor (1987) inverted: 1000 images, 10 % discordant, 80 % power at alpha 0.05 -> about 2.8 points
    assert mcnemar_detectable_difference(1000, 100) == pytest.approx(2.8, abs=0.05)


def test_mcnemar_counts_the_discordant_images_and_tests_their_split():
    first = torch.tensor([True] * 10 + [False] * 5 + [True] * 3)
    second = torch.tensor([False] * 10 + [False] * 5 + [True] * 3)
    result = mcnemar(first, second)
    assert (result["both"], result["only_first"], result["only_second"]) == (3, 10, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5 ** 10, abs=1e-4)  # exact two-sided binomial
    assert mcnemar(first, first)["p_value"] == 1.0


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
    with pytest.raises(UsageError, match=r"^threshold=1.5 is out of range"):
        Binarize(threshold=1.5)
    with pytest.raises(UsageError, match=r"^t_star=21 is out of range; expected an integer in \[1, 20\]"):
        DiffPure(unet, SCHEDULE, t_star=21)


class SeedShift(NoDefence):
    """A toy randomised defence: adds -0.2 to every pixel under even seeds, nothing under odd ones."""

    randomised = True
    identity = False  # it moves the image under even seeds
    settings = Settings(seed=Setting(SEED, 0, "even: shift"))

    def reconstruct(self, x, first_index=0, keep_graph=False):
        out = (x - 0.2 * (self.seed % 2 == 0)).clamp(0, 1)
        return out, torch.zeros(len(x))


class Threshold(torch.nn.Module):
    """Class 1 when the mean pixel exceeds 0.5, else class 0 (the loss of class 0 rises with the pixels)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(20.0))

    def forward(self, x):
        v = x.flatten(1).mean(1)
        return torch.stack([torch.zeros_like(v), self.scale * (v - 0.5)], 1)


def test_eot_pgd_returns_its_best_iterate_not_the_clean_image_when_its_check_draw_is_not_fooled():
    # With seed 0, 8 steps and 2 EOT samples the success check's draw is even (not fooled), while the final
    # iterate 0.3 + eps = 0.6 is fooled under the odd scoring draws 1 and 3, not under 4.
    model = DefendedClassifier(Threshold(), SeedShift())
    images, labels = torch.full((1, 1, 2, 2), 0.3), torch.zeros(1, dtype=torch.long)
    adversarial = eot_pgd(model, images, labels, eps=0.3, step=0.1, steps=8, eot_samples=2, final_step=None)
    torch.testing.assert_close(adversarial, torch.full_like(images, 0.6))
    first, robust, *_ = robust_over_draws(model, {"eot_pgd": adversarial}, labels, [1, 3, 4])
    assert not robust["majority"].item() and not robust["worst"].item()


def test_the_detector_aware_attack_keeps_the_reconstruction_error_lower_than_its_plain_twin(tiny_classifier, mnist_test):
    images, labels = mnist_test[0][-8:], mnist_test[1][-8:]
    # binarisation's error (distance to the thresholded image) is a detector whose clean errors sit below the
    # attacked ones, as a trained DDPM's do; an untrained U-Net's errors are larger on clean images than attacked
    model = DefendedClassifier(tiny_classifier, Binarize())
    threshold = float(model.purify(images).recon_error.median())  # half the clean images would be flagged
    settings = {"eps": 0.3, "step": 0.05, "steps": 6, "eot_samples": 1, "batch_size": 8, "final_step": None}
    plain = eot_pgd(model, images, labels, **settings)
    aware = eot_pgd(model, images, labels, detector_threshold=threshold, **settings)
    model.redraw(0)
    plain_error, aware_error = model.purify(plain).recon_error, model.purify(aware).recon_error
    assert aware_error.mean() < threshold < plain_error.mean()
    assert (model(aware).argmax(1) != labels).any()  # and it still fools the classifier on some images
    assert (aware - images).abs().max() <= 0.3 + 1e-6 and 0 <= aware.min() and aware.max() <= 1


def test_the_calibration_images_follow_the_adaptive_images_and_are_disjoint_from_them():
    images, labels = torch.arange(100.0).view(100, 1, 1, 1), torch.arange(100)
    drawn, _ = evaluation_images(images, labels, 30 + 20, seed=0)
    scored, _ = evaluation_images(images, labels, 30, seed=0)
    assert torch.equal(drawn[:30], scored)  # the stage scores the first 30 and calibrates on the other 20
    assert not set(drawn[30:].flatten().tolist()) & set(scored.flatten().tolist())
