"""The report's tables, the ablation sweep and the figures, on hand-made inputs."""

import torch

from diffdefense import report
from diffdefense.ablation import sweep
from diffdefense.defences import Purified
from diffdefense.figures import image_grid
from test_evaluation import Threshold

TABLE1 = {"dataset": "MNIST", "test_images": 4,
          "accuracy": {"clean": {"no_defence": 100.0, "diffdefense": 75.0},
                       "fgsm": {"white": {"no_defence": 25.0, "diffdefense": 50.0}}}}


def test_table1_puts_the_papers_numbers_beside_ours():
    lines = report.table1_markdown(TABLE1).splitlines()
    assert lines[0] == "| Attack | Setting | No defence (paper) | DiffDefense (paper) |"
    assert lines[2] == "| Clean | – | 100.0 (99.14) | 75.0 (99.06) |"
    assert lines[3] == "| FGSM | white-box | 25.0 (23.72) | 50.0 (89.95) |"


def test_table2_shows_image_counts_where_attacks_were_capped():
    row = {"without_defence": 1.0, "with_defence": 90.0, "adversarial_training": None, "images": 100,
           "images_adversarial_training": 50,
           "paper": {"without_defence": 1.26, "with_defence": 88.09, "adversarial_training": 45.86}}
    assert report.table2_markdown({"autoattack": row}).splitlines()[2] == \
        "| AutoAttack | 1.0 (1.26) | 90.0 (88.09) | – (45.86) | 100 / 50 |"


def test_table3_times_relative_to_the_slowest_diffdefense_row():
    rows = [{"defence": "defencegan", "L": 200, "R": 10, "accuracy": 90.0, "seconds_per_image": 2.0,
             "paper_accuracy": 91.55, "paper_seconds_per_image": 0.675},
            {"defence": "diffdefense", "L": 5, "R": 5, "accuracy": 80.0, "seconds_per_image": 0.5,
             "paper_accuracy": 89.95, "paper_seconds_per_image": 0.28}]
    lines = report.table3_markdown({"rows": rows}).splitlines()
    assert lines[2] == "| Defense-GAN | 200 | 10 | 90.0 (91.55) | 2.000 (0.675) | 4.00× (2.41×) |"
    assert lines[3] == "| DiffDefense | 5 | 5 | 80.0 (89.95) | 0.500 (0.280) | 1.00× (1.00×) |"


def test_detection_names_the_papers_claim():
    detection = {"diffdefense": {"pgd-white": {"auc": 0.9876, "tpr_at_5pct_fpr": 0.5},
                                 "deepfool-white": {"auc": 0.8, "tpr_at_5pct_fpr": 0.1}}}
    text = report.detection_markdown(detection, "MNIST")
    assert "| DiffDefense | pgd-white | 0.988 | 0.50 | AUC ≥ 0.99 |" in text
    assert "| DiffDefense | deepfool-white | 0.800 | 0.10 | lower (varies with T*) |" in text
    assert "| DiffDefense | pgd-white | 0.988 | 0.50 | – |" in report.detection_markdown(detection, "FashionMNIST")


def test_adaptive_table_has_one_row_per_defence():
    adaptive = {"defences": {
        "none": {"clean": 100.0, "bpda_eot_pgd": 0.0, "full_gradient_pgd": 0.0, "robust_all": 0.0},
        "binarize": {"clean": 100.0, "bpda_eot_pgd": 60.0, "robust_all": 60.0},
        "diffdefense": {"clean": 95.0, "bpda_eot_pgd": 40.0, "full_gradient_pgd": 30.0, "robust_all": 25.0}}}
    lines = report.adaptive_markdown(adaptive).splitlines()
    assert lines[0] == ("| Defence | clean | BPDA+EOT PGD (adaptive) | full-gradient EOT PGD (adaptive) "
                        "| robust, all attacks |")
    assert lines[3] == "| binarize | 100 | 60 | n/a | 60 |"  # not differentiable: no full-gradient attack
    assert lines[4] == "| DiffDefense | 95 | 40 | 30 | 25 |"


def test_headers_drop_the_paper_where_it_has_no_numbers():
    fashion = TABLE1 | {"dataset": "FashionMNIST"}
    assert report.table1_markdown(fashion).splitlines()[0] == "| Attack | Setting | No defence | DiffDefense |"
    assert report.paper_header(["Accuracy % (paper)", "s / image (paper, GPU)"], False) == ["Accuracy %", "s / image"]


def test_datasets_side_by_side():
    fashion = {"dataset": "FashionMNIST", "test_images": 4,
               "accuracy": {"clean": {"no_defence": 75.0, "diffdefense": 50.0},
                            "pgd": {"white": {"no_defence": 0.0, "diffdefense": 25.0}}}}
    lines = report.datasets_markdown({"MNIST": TABLE1, "FashionMNIST": fashion}).splitlines()
    assert lines[0] == "| Attack | Setting | MNIST: no defence | MNIST: DiffDefense | FashionMNIST: no defence | FashionMNIST: DiffDefense |"
    assert lines[2] == "| Clean | – | 100.0 | 75.0 | 75.0 | 50.0 |"
    assert lines[3] == "| FGSM | white-box | 25.0 | 50.0 | – | – |"
    assert lines[4] == "| PGD | white-box | – | – | 0.0 | 25.0 |"


class Blur:
    """A stand-in defence whose output depends on its `t_star` setting."""

    def __init__(self, settings):
        self.t_star = settings["t_star"]

    def __call__(self, images):
        out = images if self.t_star == 1 else torch.zeros_like(images)
        return Purified(out, (out - images).pow(2).flatten(1).mean(1))


def test_sweep_varies_one_setting_and_measures_the_shared_point_once():
    built = []

    def build(settings):
        built.append(settings)
        return Blur(settings)

    sets = {"clean": (torch.ones(3, 1, 2, 2), torch.ones(3, dtype=torch.long))}
    rows = sweep(build, Threshold(), sets, {"t_star": 1, "L": 4}, {"t_star": [1, 5], "L": [4, 8]})
    assert [(r["varied"], r["value"], r["accuracy"]) for r in rows] == \
        [("t_star", 1, 100.0), ("t_star", 5, 0.0), ("L", 4, 100.0), ("L", 8, 100.0)]
    assert len(built) == 3  # the base point (t_star 1, L 4) is shared by both sweeps
    assert all(r["seconds_per_image"] >= 0 for r in rows)


def test_image_grid_writes_a_png(tmp_path):
    path = tmp_path / "grid.png"
    image_grid({"clean": torch.rand(3, 1, 28, 28), "attacked": torch.rand(2, 1, 28, 28)}, path, "title",
               {"clean": [1, 2, 3], "attacked": [1, 0]}, [1, 2, 3])
    assert path.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob(".*"))
