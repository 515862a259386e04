import pytest
import torch

from diffdefense.attacks import ATTACKS, build_attack
from diffdefense.defended import DefendedClassifier
from diffdefense.defences import Binarize
from diffdefense.errors import UsageError
from diffdefense.evaluation import accuracy

FAST_SETTINGS = {
    "fgsm": {"eps": 0.3},
    "pgd": {"eps": 0.3, "step": 0.05, "steps": 10, "restarts": 2},
    "deepfool": {"max_iter": 20},
    "eotpgd": {"eps": 0.3, "step": 0.05, "steps": 10, "eot_samples": 2},
    "square": {"eps": 0.3, "max_iter": 100},
    "autoattack": {"eps": 0.3, "steps": 10, "square_queries": 100},
    "elasticnet": {"binary_search_steps": 3, "max_iter": 30, "initial_const": 1.0},
    "binarize_pgd": {"eps": 0.3, "steps": 20, "restarts": 1},
}
LINF_BOUNDED = ("fgsm", "pgd", "eotpgd", "square", "autoattack", "binarize_pgd")
# binarize_pgd attacks the classifier behind thresholding at 0.5, which keeps far more at eps 0.3 on MNIST
# (tests/test_adaptive.py compares it with plain PGD there)
BEHIND_THRESHOLD, DROP = {"binarize_pgd"}, {"binarize_pgd": 10}


def test_every_registered_attack_is_tested():
    assert set(ATTACKS) == set(FAST_SETTINGS)


@pytest.mark.parametrize("name", sorted(FAST_SETTINGS))
def test_attack_lowers_accuracy_and_keeps_images_valid(name, tiny_classifier, held_out):
    images, labels = held_out
    scored = DefendedClassifier(tiny_classifier, Binarize()) if name in BEHIND_THRESHOLD else tiny_classifier
    clean = accuracy(scored, images, labels)
    assert clean > 80
    torch.manual_seed(0)
    adversarial = build_attack(name, tiny_classifier, FAST_SETTINGS[name])(images, labels)
    assert adversarial.shape == images.shape
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    if name in LINF_BOUNDED:
        assert (adversarial - images).abs().max() <= 0.3 + 1e-6
    assert accuracy(scored, adversarial, labels) < clean - DROP.get(name, 40)


def test_negative_epsilon_is_rejected(tiny_classifier):
    with pytest.raises(UsageError, match=r"^attack.settings.fgsm.eps=-0.1 is out of range; expected a number in \[0, 1\]"):
        build_attack("fgsm", tiny_classifier, {"eps": -0.1})
    with pytest.raises(UsageError, match=r"^train_classifier.A_adv.adversarial.eps=-0.1 is out of range"):
        build_attack("fgsm", tiny_classifier, {"eps": -0.1}, "train_classifier.A_adv.adversarial")
    from diffdefense.attacks import fgsm
    with pytest.raises(UsageError, match=r"^eps=-0.1 is out of range"):  # the library names its own argument
        fgsm.build(tiny_classifier, eps=-0.1)


def test_unknown_attack_is_rejected(tiny_classifier):
    with pytest.raises(UsageError, match=r"attack name='cw' is not allowed"):
        build_attack("cw", tiny_classifier, {})


def test_deepfool_matches_art(tiny_classifier, held_out):
    from art.attacks.evasion import DeepFool

    from diffdefense.attacks.art_bridge import art_classifier, run_art

    images, labels = held_out[0][:16], held_out[1][:16]
    correct = tiny_classifier(images).argmax(1) == labels  # ART attacks from the prediction, we from the label
    ours = build_attack("deepfool", tiny_classifier, {"max_iter": 50})(images, labels)
    art = run_art(DeepFool(art_classifier(tiny_classifier), max_iter=50, epsilon=1e-6, nb_grads=10, batch_size=1,
                           verbose=False), images, labels)
    ours_l2 = (ours - images)[correct].flatten(1).norm(dim=1)
    art_l2 = (art - images)[correct].flatten(1).norm(dim=1)
    assert float(ours_l2.median()) == pytest.approx(float(art_l2.median()), rel=0.05)
    # ART stops 1e-6 past the decision boundary, where float rounding decides the class: ours (same step, true
    # labels) must fool at least as many images, give or take one
    assert accuracy(tiny_classifier, ours, labels) <= accuracy(tiny_classifier, art, labels) + 100 / 16 + 1e-6


@pytest.mark.parametrize("name", ["pgd", "binarize_pgd"])
def test_restarted_attacks_return_their_best_try_for_images_they_did_not_fool(name, tiny_classifier, held_out):
    # at eps 0.02 almost no image is fooled: those must come back perturbed (the highest-loss try), not clean
    images, labels = held_out
    settings = {"pgd": {"eps": 0.02, "step": 0.005, "steps": 5, "restarts": 3},
                "binarize_pgd": {"eps": 0.02, "steps": 5, "restarts": 3}}[name]
    attack = build_attack(name, tiny_classifier, settings)
    adversarial = attack(images, labels)
    model = tiny_classifier if name == "pgd" else DefendedClassifier(tiny_classifier, Binarize())
    with torch.no_grad():
        not_fooled = model(adversarial).argmax(1) == labels
    assert not_fooled.sum() > len(labels) // 2
    moved = (adversarial - images).flatten(1).abs().amax(1) > 0
    assert moved[not_fooled].all()
    yields = attack.yields["fooled_by_restart"]
    assert len(yields) == 3 and sum(yields) == int((~not_fooled).sum()) - int(
        (model(images).argmax(1) != labels).sum() if name == "binarize_pgd" else 0)


@pytest.mark.parametrize("name", ["fgsm", "pgd", "deepfool"])
def test_an_attack_runs_the_model_in_eval_mode_and_leaves_it_as_it_found_it(name, tiny_classifier, held_out):
    images, labels = held_out[0][:16], held_out[1][:16]
    torch.manual_seed(0)
    in_eval = build_attack(name, tiny_classifier.eval(), FAST_SETTINGS[name])(images, labels)
    tiny_classifier.train()  # dropout on, as during adversarial training
    try:
        torch.manual_seed(0)
        attack = build_attack(name, tiny_classifier, FAST_SETTINGS[name])
        assert tiny_classifier.training
        in_train = attack(images, labels)
        assert all(module.training for module in tiny_classifier.modules())
    finally:
        tiny_classifier.eval()
    assert torch.equal(in_eval, in_train)  # dropout was off while it ran
