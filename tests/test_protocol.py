"""The two-tier adaptive protocol as a library call, on toy models (diffdefense.protocol)."""

import torch

from diffdefense.defences import Binarize, NoDefence
from diffdefense.protocol import Detection, Row, adaptive_evaluation
from test_adaptive import SeedShift, Threshold


class Shifted(SeedShift):
    """SeedShift whose reconstruction error is the distance it moved the image."""

    def reconstruct(self, x, first_index=0, keep_graph=False):
        out, _ = super().reconstruct(x, first_index, keep_graph)
        return out, (out - x).pow(2).flatten(1).mean(1)


def test_adaptive_evaluation_scores_every_row_and_deploys_the_detector_where_a_defence_reconstructs():
    torch.manual_seed(0)
    images = torch.rand(12, 1, 4, 4) * 0.2 + torch.tensor([0.2, 0.7]).repeat(6).view(12, 1, 1, 1)
    labels = (images.flatten(1).mean(1) > 0.5).long()
    calibration = torch.rand(10, 1, 4, 4) * 0.2 + 0.2
    rows = [Row("none", "A", NoDefence()), Row("binarize", "A", Binarize()), Row("diffdefense", "A", Shifted())]
    result = adaptive_evaluation(
        {"A": Threshold()}, rows, images, labels, through_images=4, evaluation_draws=3,
        surrogate={"pgd": {"attack": "pgd", "eps": 0.3, "step": 0.1, "steps": 3, "restarts": 1}},
        attack={"eps": 0.3, "step": 0.1, "steps": 2, "eot_samples": 2, "restarts": 1, "seed": 0, "batch_size": 4},
        full_gradient={}, detection=Detection(calibration, 0.1, ["diffdefense"], resamples=100), say=lambda *_: None)
    metrics = result.metrics
    assert set(metrics["large"]["defences"]) == {"none", "binarize", "diffdefense"}
    assert metrics["large"]["defences"]["none"]["pgd"]["images"] == 12
    assert set(metrics["detection"]["rows"]) == {"binarize", "diffdefense"}  # the identity has no error to threshold
    subset = metrics["detection"]["rows"]["diffdefense"]["subset"]
    assert {"bpda_eot_pgd", "full_gradient_pgd", "detector_aware_bpda_eot_pgd", "every_attack"} <= set(subset)
    assert "detector_aware_bpda_eot_pgd" not in metrics["detection"]["rows"]["binarize"]["subset"]
    for m in subset.values():
        assert m["robust_or_detected"]["images"] == 4
    # robust-or-detected can only add images to robust accuracy
    large = metrics["detection"]["rows"]["diffdefense"]["large"]["pgd"]
    assert large["robust_or_detected"]["accuracy"] >= metrics["large"]["defences"]["diffdefense"]["pgd"]["accuracy"]
    assert set(metrics["large"]["paired_robust_all"]) == {"diffdefense_vs_none", "diffdefense_vs_binarize"}
    assert {r["defence"] for r in result.rows} == {"none", "binarize", "diffdefense"}
    # the surrogate adversarials come back for scoring other defences on the same images, inside the budget
    pgd = result.adversarials["A"]["pgd"]
    assert pgd.shape == images.shape and (pgd - images).abs().max() <= 0.3 + 1e-6 and not torch.equal(pgd, images)


def test_adaptive_evaluation_scores_surrogate_adversarials_made_earlier_and_pairs_each_rows_two_tiers():
    torch.manual_seed(0)
    images = torch.rand(8, 1, 4, 4) * 0.2 + torch.tensor([0.2, 0.7]).repeat(4).view(8, 1, 1, 1)
    labels = (images.flatten(1).mean(1) > 0.5).long()
    made = {"A": {"pgd": 1 - images}}  # every image pushed to the other class: no attack could do better
    result = adaptive_evaluation(
        {"A": Threshold()}, [Row("none", "A", NoDefence()), Row("binarize", "A", Binarize())], images, labels,
        through_images=4, evaluation_draws=2, adversarials=made,
        surrogate={"pgd": {"attack": "pgd", "eps": 0.3, "step": 0.1, "steps": 3, "restarts": 1}},
        attack={"eps": 0.3, "step": 0.1, "steps": 2, "eot_samples": 1, "restarts": 1, "seed": 0, "batch_size": 4},
        full_gradient={}, say=lambda *_: None)
    assert torch.equal(result.adversarials["A"]["pgd"], 1 - images)  # used as given, not attacked again
    assert result.metrics["large"]["defences"]["none"]["pgd"]["accuracy"] == 0.0
    assert result.metrics["budget_yield"]["surrogate"] == {}
    paired = result.metrics["subset"]["surrogates_vs_through"]
    assert set(paired) == {"none", "binarize"} and set(paired["none"]) == {"one", "worst", "majority"}
    # nothing survives the given adversarials, so no image is robust to the surrogates only
    assert all(t["images"] == 4 and t["only_first"] == 0 for by_rule in paired.values() for t in by_rule.values())


def test_a_bf16_surrogate_attacks_through_autocast_and_leaves_the_classifier_as_it_was():
    from diffdefense.protocol import surrogate_attacks

    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    images = torch.rand(6, 1, 4, 4)
    labels = classifier(images).argmax(1)
    built = surrogate_attacks({"pgd": {"attack": "pgd", "eps": 0.3, "step": 0.1, "steps": 5, "restarts": 1,
                                       "precision": "bf16", "classifiers": ["A"]}}, classifier, "A")
    adversarial = built["pgd"](images, labels)
    assert adversarial.dtype == torch.float32 and (adversarial - images).abs().max() <= 0.3 + 1e-6
    assert (classifier(adversarial).argmax(1) != labels).any()
    assert all(torch.equal(v, before[k]) for k, v in classifier.state_dict().items())
