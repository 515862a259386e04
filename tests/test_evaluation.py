import pytest
import torch

from diffdefense.evaluation import NO_DEFENCE, accuracy_rows, detection, table1, table2
from diffdefense.pipeline import ROBUST_TRAINING
from diffdefense.pipeline import AttackSet
from diffdefense.statistics import accuracy_interval


def test_detection_on_a_hand_made_case():
    clean = torch.tensor([0.1, 0.2, 0.3, 0.4])
    attacked = torch.tensor([0.25, 0.5, 0.6, 0.7])
    # 16 (attacked, clean) pairs; the attacked score wins in 14, loses to 0.3 and 0.4 once each -> 14/16
    result = detection(clean, attacked, max_fpr=0.05, resamples=200)
    assert result["auc"] == pytest.approx(14 / 16)
    assert result["auc_ci_low"] < 14 / 16 < result["auc_ci_high"] <= 1  # 4 + 4 images: a wide interval
    assert result == detection(clean, attacked, max_fpr=0.05, resamples=200) | {"fpr": result["fpr"], "tpr": result["tpr"]}
    assert result["tpr_at_fpr"] == pytest.approx(0.75)  # at FPR 0 the three scores above 0.4 are caught
    perfect = detection(clean, attacked + 1)
    assert perfect["auc"] == 1.0 and perfect["tpr_at_fpr"] == 1.0


class Threshold(torch.nn.Module):
    """Predicts class 1 when the mean pixel exceeds 0.5, else class 0."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        score = x.flatten(1).mean(1) - 0.5
        return torch.stack([-score, score], 1)


def test_tables_from_rows():
    ones, zeros = torch.ones(4, 1, 2, 2), torch.zeros(4, 1, 2, 2)
    labels = torch.tensor([1, 1, 1, 0])
    sets = {"clean": (ones, labels, None),
            "fgsm-white": (zeros, labels, AttackSet("fgsm", "A", "A")),
            "fgsm-black": (ones, labels, AttackSet("fgsm", "B", "A")),
            "fgsm-advtrained": (ones, labels, AttackSet("fgsm", "A_adv", "A_adv"))}
    defended = {"diffdefense": {"clean": ones, "fgsm-white": ones, "fgsm-black": zeros}}
    rows = accuracy_rows({"A": Threshold(), "A_adv": Threshold()}, sets, defended)
    metrics, flat = table1(rows, "MNIST")
    three, one = accuracy_interval(3, 4), accuracy_interval(1, 4)
    assert three == {"accuracy": 75.0, "images": 4, "ci_low": 30.06, "ci_high": 95.44}  # Wilson
    assert metrics["clean"] == {NO_DEFENCE: three, "diffdefense": three}
    assert metrics["fgsm"]["white"] == {NO_DEFENCE: one, "diffdefense": three}
    assert metrics["fgsm"]["black"] == {NO_DEFENCE: three, "diffdefense": one}
    assert {r["paper"] for r in flat if r["set"] == "fgsm-white"} == {23.72, 89.95}
    # 23.72 lies inside [4.56, 69.94] and 89.95 inside [30.06, 95.44]; the clean 99.14 and 99.06 lie above 95.44
    assert {r["condition"]: r["paper_outside_interval"] for r in flat if r["set"] in ("clean", "fgsm-white")} == {
        "clean / no_defence": True, "clean / diffdefense": True,
        "fgsm-white / no_defence": False, "fgsm-white / diffdefense": False}
    assert all(r["evaluated_on"] == "A" for r in flat)
    table = table2(rows, "MNIST", ROBUST_TRAINING)
    assert table["fgsm"] == {"without_defence": one, "with_defence": three, "adversarial_training": three,
                             "pgd_adversarial_training": None,  # no set was crafted on A_pgd
                             "paper": {"without_defence": 23.72, "with_defence": 89.95, "adversarial_training": 98.02}}
    # The paper's Table 2 is on MNIST: another dataset gets no reference numbers, not MNIST's.
    assert table2(rows, "FashionMNIST", ROBUST_TRAINING)["fgsm"]["paper"] == dict.fromkeys(
        ["without_defence", "with_defence", "adversarial_training"])
