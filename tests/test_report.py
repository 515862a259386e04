"""The report's tables, the ablation sweep and the figures, on hand-made inputs."""

import json
from pathlib import Path

import torch
import yaml

from diffdefense import report
from diffdefense.ablation import sweep
from diffdefense.defences import Purified
from diffdefense.figures import image_grid
from diffdefense.statistics import accuracy_interval
from test_evaluation import Threshold

def acc(correct, images):
    return accuracy_interval(correct, images)


TABLE1 = {"dataset": "MNIST", "test_images": 4,
          "accuracy": {"clean": {"no_defence": acc(4, 4), "diffdefense": acc(3, 4)},
                       "fgsm": {"white": {"no_defence": acc(1, 4), "diffdefense": acc(2, 4)}}}}


def test_table1_puts_the_papers_numbers_beside_ours_and_marks_them_outside_our_interval():
    lines = report.table1_markdown(TABLE1).splitlines()
    assert lines[0] == "| Attack | Setting | Images | No defence (paper) | DiffDefense (paper) |"
    assert lines[2] == "| Clean | – | 4 | 100.0 [51.0, 100.0] (99.14) | 75.0 [30.1, 95.4] (99.06 ✗) |"
    many = {"dataset": "MNIST", "accuracy": {"clean": {"no_defence": acc(150, 200), "diffdefense": acc(198, 200)}}}
    # 99.14 is outside [68.6, 80.5]; 99.06 is inside [96.4, 99.7]
    assert report.table1_markdown(many).splitlines()[2] == \
        "| Clean | – | 200 | 75.0 [68.6, 80.5] (99.14 ✗) | 99.0 [96.4, 99.7] (99.06) |"


def test_table2_shows_image_counts_where_attacks_were_capped():
    row = {"without_defence": acc(1, 100), "with_defence": acc(90, 100), "adversarial_training": acc(25, 50),
           "paper": {"without_defence": 1.26, "with_defence": 88.09, "adversarial_training": None}}
    assert report.table2_markdown({"autoattack": row}).splitlines()[2] == \
        "| AutoAttack | 100 / 50 | 1.0 [0.2, 5.5] (1.26) | 90.0 [82.6, 94.5] (88.09) | 50.0 [36.6, 63.4] |"


def test_table3_times_relative_to_the_slowest_diffdefense_row_and_the_clean_column():
    rows = {"a": {"defence": "defencegan", "L": 200, "R": 10, "seconds_per_image": 2.0, "paper_accuracy": 91.55,
                  "paper_seconds_per_image": 0.675, "clean": acc(10, 10)} | acc(9, 10),
            "b": {"defence": "diffdefense", "L": 5, "R": 5, "seconds_per_image": 0.5, "paper_accuracy": 89.95,
                  "paper_seconds_per_image": 0.28, "clean": acc(7, 10)} | acc(8, 10)}
    lines = report.table3_markdown({"set": "fgsm-white", "rows": rows}).splitlines()
    assert lines[0] == ("| Method | L | R | fgsm-white: accuracy % (paper) | clean: accuracy % "
                        "| s / image (paper, GPU) | Time vs DiffDefense (paper) |")
    assert lines[2] == ("| Defense-GAN | 200 | 10 | 90.0 [59.6, 98.2] (91.55) | 100.0 [72.2, 100.0] | 2.000 (0.675) "
                        "| 4.00× (2.41×) |")
    assert lines[3] == ("| DiffDefense | 5 | 5 | 80.0 [49.0, 94.3] (89.95) | 70.0 [39.7, 89.2] | 0.500 (0.280) "
                        "| 1.00× (1.00×) |")
    # runs from before the clean column: no such column
    old = {name: {k: v for k, v in row.items() if k != "clean"} for name, row in rows.items()}
    assert "clean" not in report.table3_markdown({"set": "fgsm-white", "rows": old}).splitlines()[0]


PAPER_DEFENCEGAN = {(25, 10): 79.98, (100, 1): 50.11, (100, 10): 89.11, (200, 10): 91.55}


def defencegan_rows(attacked: dict, clean: dict) -> dict:
    """Table 3's Defense-GAN rows with `attacked` and `clean` correct images out of 50 per (L, R)."""
    return {f"defencegan_L{L}_R{R}": {"defence": "defencegan", "L": L, "R": R, "seconds_per_image": 0.1,
                                      "paper_accuracy": paper, "paper_seconds_per_image": 0.3,
                                      "clean": acc(clean[L, R], 50)} | acc(attacked[L, R], 50)
            for (L, R), paper in PAPER_DEFENCEGAN.items()}


def test_table3_note_says_which_column_the_papers_defencegan_numbers_resemble():
    weak = {(25, 10): 11, (100, 1): 16, (100, 10): 18, (200, 10): 18}  # 22-36 %
    near_paper = {(25, 10): 42, (100, 1): 30, (100, 10): 46, (200, 10): 48}  # 84, 60, 92, 96 %
    dcgan = {"architecture": "dcgan", "width": 32, "latent_dim": 128}
    text = report.table3_markdown({"set": "fgsm-white", "rows": defencegan_rows(weak, near_paper), "generator": dcgan})
    assert "github.com/kabkabm/defensegan, HEAD 7e3feae" in text and "`whitebox.py`" in text
    assert "issues #1 and #14" in text and "in #2" in text
    assert ("inside our 95 % intervals in 0 of 4 rows on fgsm-white images (mean distance 46.2 points) and 4 of 4 "
            "rows on clean images (mean distance 5.3 points): they resemble our clean column.") in text
    assert ("From R 1 to R 10 at L 100 the paper gains +39.0 points; we gain +4.0 on fgsm-white and +32.0 "
            "on clean.") in text
    assert "This run's generator is a DCGAN (width 32, latent 128)." in text and "shows" not in text
    # the same numbers the other way round: decided from the metrics, not written in
    measured = {"samples_confident": acc(120, 500), "clean_confident": acc(49, 50)}
    text = report.table3_markdown({"set": "fgsm-white", "rows": defencegan_rows(near_paper, weak),
                                   "generator": dcgan | {"architecture": "original", "width": 64} | measured})
    assert "they resemble our fgsm-white column." in text
    assert "authors' architecture (width 64, latent 128)" in text
    assert ("to 24.0 [20.5, 27.9] % of 500 of its samples, against 98.0 [89.5, 99.7] % of 50 clean test images: it "
            "recognises fewer") in text
    measured["samples_confident"] = acc(480, 500)
    text = report.table3_markdown({"set": "fgsm-white", "rows": defencegan_rows(near_paper, weak),
                                   "generator": dcgan | measured})
    assert "of 50 clean test images." in text and "recognises fewer" not in text
    far = {key: 0 for key in PAPER_DEFENCEGAN}
    assert "they resemble neither column; the nearer is clean." in report.table3_markdown(
        {"set": "fgsm-white", "rows": defencegan_rows(far, weak)})


def test_detection_names_the_papers_claim():
    common = {"clean_images": 10, "attacked_images": 10}
    detection = {"diffdefense": {
        "pgd-white": {"auc": 0.9876, "auc_ci_low": 0.95, "auc_ci_high": 1.0, "tpr_at_5pct_fpr": 0.5} | common,
        "deepfool-white": {"auc": 0.8, "auc_ci_low": 0.6, "auc_ci_high": 0.95, "tpr_at_5pct_fpr": 0.1} | common}}
    text = report.detection_markdown(detection, "MNIST")
    assert "| DiffDefense | pgd-white | 10 + 10 | 0.988 [0.950, 1.000] | 0.50 | AUC ≥ 0.99 |" in text
    assert "| DiffDefense | deepfool-white | 10 + 10 | 0.800 [0.600, 0.950] | 0.10 | lower (varies with T*) |" in text
    assert "| 0.50 | – |" in report.detection_markdown(detection, "FashionMNIST")
    detection["diffdefense"]["pgd-white"] |= {"auc": 0.9, "auc_ci_low": 0.8, "auc_ci_high": 0.95}
    assert "| 0.900 [0.800, 0.950] | 0.50 | AUC ≥ 0.99 ✗ |" in report.detection_markdown(detection, "MNIST")


def test_adaptive_table_has_one_row_per_defence():
    tier = {"defences": {
        "none": {"clean": acc(10, 10), "pgd": acc(0, 10), "full_gradient_pgd": acc(0, 10), "robust_all": acc(0, 10)},
        "binarize": {"clean": acc(10, 10), "pgd": acc(9, 10), "bpda_eot_pgd": acc(6, 10), "robust_all": acc(6, 10)}}}
    lines = report.adaptive_markdown(tier, 3).splitlines()
    assert lines[0] == ("| Defence | clean | PGD on the bare classifier (surrogate) | full-gradient EOT PGD (through the "
                        "defence) | robust (one draw) | BPDA+EOT PGD (through the defence) |")
    # not differentiable: no full-gradient attack
    assert lines[3] == ("| binarize | 100.0 [72.2, 100.0] | 90.0 [59.6, 98.2] | n/a | 60.0 [31.3, 83.2] "
                        "| 60.0 [31.3, 83.2] |")


def test_adaptive_cost_table_lists_seconds_per_image_per_attack():
    text = report.cost_markdown({"A": {"pgd": 0.0123, "binarize_pgd": 0.2}, "diffdefense": {"scoring": 1.5,
                                                                                             "bpda_eot_pgd": 60.0}})
    assert "| A | 0.012 | 0.200 | – | – |" in text and "| DiffDefense | – | – | 1.500 | 60.000 |" in text


PAIRED = {"diffdefense_vs_binarize": {
    "one": {"images": 10, "both": 5, "only_first": 1, "only_second": 0, "p_value": 1.0, "detectable_difference": None},
    "worst": {"images": 40, "both": 0, "only_first": 0, "only_second": 12, "p_value": 0.0005,
              "detectable_difference": 24.61}}}


def test_paired_table_calls_a_difference_a_finding_only_below_p_0_05_and_gives_its_size():
    lines = report.paired_markdown({"large": {"paired_robust_all": PAIRED}, "subset": {}}).splitlines()
    assert lines[2] == ("| DiffDefense vs binarize | one draw | 10 | 1 | 0 | 1 | no significant difference "
                        "| none at this size |")
    assert lines[3] == ("| DiffDefense vs binarize | every draw | 40 | 0 | 12 | 0.0005 | differ (p < 0.05) "
                        "| 24.6 points |")


def test_verdict_counts_only_separated_intervals_and_significant_paired_tests():
    table2 = {"fgsm": {"with_defence": acc(90, 100), "adversarial_training": acc(50, 100),
                       "pgd_adversarial_training": acc(99, 100)},
              "pgd": {"with_defence": acc(60, 100), "adversarial_training": acc(62, 100),
                      "pgd_adversarial_training": None}}
    large = {"images": 300, "defences": {
        "binarize": {"binarize_pgd": acc(210, 300), "robust_all": acc(210, 300), "robust_all_worst_of_draws": acc(210, 300)},
        "diffdefense": {"binarize_pgd": acc(240, 300), "robust_all": acc(200, 300),
                        "robust_all_worst_of_draws": acc(190, 300)}},
        "paired_robust_all": {"diffdefense_vs_binarize": {
            "worst": {"images": 300, "both": 150, "only_first": 40, "only_second": 60, "p_value": 0.057,
                      "detectable_difference": 9.3}}}}
    subset = {"images": 20, "defences": {
        "binarize": {"binarize_pgd": acc(14, 20), "bpda_eot_pgd": acc(14, 20), "robust_all": acc(14, 20),
                     "robust_all_worst_of_draws": acc(14, 20)},
        "diffdefense": {"binarize_pgd": acc(18, 20), "bpda_eot_pgd": acc(4, 20), "robust_all": acc(4, 20),
                        "robust_all_worst_of_draws": acc(3, 20)}}}
    adaptive = {"evaluation_draws": 3, "surrogate": {"binarize_pgd": {}}, "large": large, "subset": subset}
    text = report.verdict_markdown(table2, adaptive, 0.4)
    assert "Against 2 attacks, DiffDefense in front of A is above FGSM adv. training (attacked itself) on 1, " \
           "below on 0, and within the intervals on 1" in text
    assert "Against 1 attacks, DiffDefense in front of A is above PGD-style adv. training (attacked itself) on 0, " \
           "below on 1, and within the intervals on 0" in text
    assert "no significant difference (McNemar p = 0.057" in text and "detectable difference 9.3 points" in text
    assert "gains nothing measurable" in text and "(300 images)" in text
    # on the subset BPDA finds far more than the surrogate against DiffDefense: the verdict says so
    assert "DiffDefense 90.0 [69.9, 97.2] against 20.0 [8.1, 41.6] (weaker)" in text
    assert "binarize 70.0 [48.1, 85.5] against 70.0 [48.1, 85.5] (within the intervals)" in text
    large["paired_robust_all"]["diffdefense_vs_binarize"]["worst"] |= {"only_second": 90, "p_value": 0.004}
    assert "Binarisation is measurably more robust" in report.verdict_markdown(table2, adaptive, 0.4)
    assert "robustness comes from" not in text and "Fixed seed" not in text  # neither was measured


def test_verdict_says_where_robustness_comes_from_and_what_a_fixed_seed_gives():
    ablation = {"images_per_set": 100, "base": {"t_star": 15, "L": 4, "R": 5},
                "accuracy": {"L": {"fgsm-white": {"4": acc(80, 100)}},
                             "variant": {"fgsm-white": {"unet_zeroed": acc(30, 100), "clamp_output": acc(78, 100)}}}}
    tier = {"images": 10, "defences": {"diffdefense": {"robust_all": acc(5, 10), "robust_all_worst_of_draws": acc(5, 10),
                                                       "robust_all_fixed_seed": acc(2, 10)}}}
    adaptive = {"evaluation_draws": 3, "surrogate": {}, "large": tier, "subset": tier}
    text = report.verdict_markdown({}, adaptive, 0.4, ablation)
    assert ("with the U-Net's noise prediction zeroed: fgsm-white 30.0 [21.9, 39.6] (below 80.0 [71.1, 86.7]); "
            "with the output clamped instead of passed through a sigmoid: fgsm-white 78.0 [68.9, 85.0] "
            "(within the intervals of 80.0 [71.1, 86.7])") in text
    assert "robust accuracy DiffDefense 20.0 [5.7, 51.0]. A deployment that fixes its seed" in text
    # the configured L = 3 was not swept, but T* = 15 was: that point is the defence as configured
    ablation["base"]["L"] = 3
    ablation["accuracy"]["t_star"] = {"fgsm-white": {"15": acc(60, 100)}}
    assert "fgsm-white 30.0 [21.9, 39.6] (below 60.0 [50.2, 69.1])" in report.verdict_markdown({}, adaptive, 0.4,
                                                                                             ablation)
    # no sweep ran at the configured setting: the variants alone, nothing to compare with
    del ablation["accuracy"]["t_star"]
    assert "zeroed: fgsm-white 30.0 [21.9, 39.6]; with" in report.verdict_markdown({}, adaptive, 0.4, ablation)


def test_key_metrics_hold_accuracies_and_aucs_but_no_timings():
    table2 = {"fgsm": {"adversarial_training": acc(3, 4)}, "square": {"adversarial_training": None}}
    table3 = {"device": "cpu", "threads": 2, "rows": {"gan_L5": {"seconds_per_image": 0.1} | acc(1, 4)}}
    detection = {"diffdefense": {"fgsm-white": {"auc": 0.987654, "auc_ci_low": 0.9, "auc_ci_high": 1.0}}}
    tier = {"defences": {"diffdefense": {"robust_all": acc(2, 4), "robust_all_worst_of_draws": acc(1, 4)},
                         "none": {"robust_all": acc(0, 4)}}}
    adaptive = {"large": tier, "subset": {"defences": {"none": {"robust_all": acc(1, 2)}}}}
    classifiers = {"A": {"seconds": 9.0, "threads": 2, "test": acc(99, 100)}}
    key = report.key_metrics(TABLE1, table2, table3, detection, adaptive, classifiers, {"train_loss": 0.0512345})
    assert key == {"classifier_test_accuracy": {"A": 99.0}, "ddpm_eps_mse": 0.05123,
                   "table1": {"clean": {"no_defence": 100.0, "diffdefense": 75.0},
                              "fgsm-white": {"no_defence": 25.0, "diffdefense": 50.0}},
                   "adversarial_training": {"fgsm": 75.0}, "auc": {"diffdefense": {"fgsm-white": 0.9877}},
                   "table3": {"gan_L5": 25.0},
                   "adaptive_robust_all_large": {"diffdefense": {"one_draw": 50.0, "worst_of_draws": 25.0},
                                                 "none": {"one_draw": 0.0}},
                   "adaptive_robust_all_subset": {"none": {"one_draw": 50.0}}}


def test_boundary_table_names_the_fragile_sets():
    text, fragile = report.boundary_markdown({
        "deepfool-white": {"images": 10, "on_boundary": 9, "median_logit_gap": 1e-6, "flipped_since_crafted": 0},
        "fgsm-white": {"images": 10, "on_boundary": 0, "median_logit_gap": 3.5, "flipped_since_crafted": 0}})
    assert fragile == ["deepfool-white"]
    assert "| deepfool-white | 10 | 9 (90 %) | 1e-06 | 0 |" in text


def test_headers_drop_the_paper_where_it_has_no_numbers():
    fashion = TABLE1 | {"dataset": "FashionMNIST"}
    assert report.table1_markdown(fashion).splitlines()[0] == "| Attack | Setting | Images | No defence | DiffDefense |"
    assert report.paper_header(["Accuracy % (paper)", "s / image (paper, GPU)"], False) == ["Accuracy %", "s / image"]


def test_datasets_side_by_side():
    fashion = {"dataset": "FashionMNIST", "test_images": 4,
               "accuracy": {"clean": {"no_defence": 75.0, "diffdefense": 50.0},
                            "pgd": {"white": {"no_defence": 0.0, "diffdefense": 25.0}}}}
    lines = report.datasets_markdown({"MNIST": TABLE1, "FashionMNIST": fashion}).splitlines()
    assert lines[0] == "| Attack | Setting | MNIST: no defence | MNIST: DiffDefense | FashionMNIST: no defence | FashionMNIST: DiffDefense |"
    assert lines[2] == "| Clean | – | 100.0 [51.0, 100.0] | 75.0 [30.1, 95.4] | 75.0 | 50.0 |"  # older runs: bare numbers
    assert lines[3] == "| FGSM | white-box | 25.0 [4.6, 69.9] | 50.0 [15.0, 85.0] | – | – |"
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
    rows = sweep(build, Threshold(), sets, {"t_star": 1, "L": 4}, {"t_star": [1, 5], "L": [4, 8]},
                 variants={"blurred": {"t_star": 5}, "longer": {"L": 8, "t_star": 5}})
    assert [(r["varied"], r["value"], r["accuracy"]) for r in rows] == \
        [("t_star", 1, 100.0), ("t_star", 5, 0.0), ("L", 4, 100.0), ("L", 8, 100.0),
         ("variant", "blurred", 0.0), ("variant", "longer", 0.0)]
    # the base point (t_star 1, L 4) is shared by both sweeps, and "blurred" is the sweep's t_star 5
    assert len(built) == 4
    assert all(r["seconds_per_image"] >= 0 for r in rows)


def test_image_grid_writes_a_png(tmp_path):
    path = tmp_path / "grid.png"
    image_grid({"clean": torch.rand(3, 1, 28, 28), "attacked": torch.rand(2, 1, 28, 28)}, path, "title",
               {"clean": [1, 2, 3], "attacked": [1, 0]}, [1, 2, 3])
    assert path.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob(".*"))


def test_the_verdict_reads_a_larger_run_only_of_the_same_setting(tmp_path):
    params = {"data": {"dataset": "MNIST"}, "adaptive": {"images": 300, "draws": 3},
              "defend": {"diffdefense": {"L": 4, "precision": "auto"}}}

    def commit(name, images, L=4, dataset="MNIST"):  # a results/<name>/ folder that predates `precision`
        folder = tmp_path / name
        (folder / "metrics").mkdir(parents=True)
        theirs = {"data": {"dataset": dataset}, "adaptive": {"images": images, "draws": 3},
                  "defend": {"diffdefense": {"L": L}}}
        (folder / "params.yaml").write_text(yaml.safe_dump(theirs))
        (folder / "metrics/adaptive.json").write_text(json.dumps({"large": {"images": images}}))

    assert report.larger_adaptive_run(tmp_path, params) is None
    commit("bigger", 1000)
    commit("other-setting", 2000, L=5)
    commit("other-dataset", 2000, dataset="KMNIST")
    commit("smaller", 100)
    folder, adaptive, differences = report.larger_adaptive_run(tmp_path, params)
    assert folder.name == "bigger" and adaptive["large"]["images"] == 1000
    assert differences == {"adaptive.images": (300, 1000), "defend.diffdefense.precision": ("auto", "absent")}
    # a param added after those runs matches them only at its declared default: they ran as "auto" does
    params["defend"]["diffdefense"]["precision"] = "fp32"
    assert report.larger_adaptive_run(tmp_path, params) is None


def test_ddpm_length_section_calls_a_checkpoint_different_only_where_its_paired_test_says_so():
    def row(mse, robust, p_value, only_first, only_second):
        test = {"images": 200, "only_first": only_first, "only_second": only_second, "p_value": p_value,
                "detectable_difference": 6.0}
        return {"held_out_eps_mse": mse, "first_draw": {"clean": acc(198, 200)}, "robust_one_draw": acc(robust, 200),
                "robust_worst_of_draws": acc(robust, 200), "vs_default_length": {"worst": test}}

    scores = {"default_epochs": 3, "checkpoints": {"3": row(0.059, 150, 1.0, 0, 0), "30": row(0.044, 158, 0.3, 9, 4)}}
    text = report.ddpm_length_markdown(scores)
    assert "| 30 | 0.0440 |" in text and "| 9 / 4 | 0.3 |" in text
    assert text.endswith("No checkpoint's robust accuracy under every draw differs from the 3-epoch DDPM's "
                         "(McNemar p ≥ 0.05 each; the smallest differences these tests would detect: 6.0 points).")
    scores["checkpoints"]["30"] = row(0.044, 170, 0.001, 21, 1)
    assert report.ddpm_length_markdown(scores).endswith(
        "differs from the 3-epoch DDPM's at 30 epochs (higher, p = 0.001).")


def test_the_ddpm_length_finding_says_whether_the_verdicts_order_holds_at_every_checkpoint():
    def checkpoint(robust):
        return {"robust_worst_of_draws": acc(robust, 1000),
                "vs_default_length": {"worst": {"only_first": 0, "only_second": 0, "p_value": 1.0,
                                                "detectable_difference": 3.0}}}

    def row(robust):
        return {"robust_all_worst_of_draws": acc(robust, 1000)}

    scores = {"images": 1000, "default_epochs": 3, "checkpoints": {"3": checkpoint(760), "30": checkpoint(732)}}
    adaptive = {"large": {"images": 1000, "defences": {"none": row(0), "binarize": row(840), "diffdefense": row(764),
                                                       "diffpure": row(195)}}}
    text = report.ddpm_length_finding(scores, adaptive)
    assert "binarize 84.0 [81.6, 86.1] is above every checkpoint; diffpure 19.5 [17.2, 22.1] is below every" in text
    assert text.endswith("So the verdict's order does not change with the DDPM's training length (intervals apart "
                         "at every checkpoint).")
    adaptive["large"]["defences"]["binarize"] = row(790)  # overlaps the 3-epoch checkpoint's interval only
    assert report.ddpm_length_finding(scores, adaptive).endswith(
        "binarize 79.0 [76.4, 81.4] is within the intervals at 3 epochs; diffpure 19.5 [17.2, 22.1] is below every "
        "checkpoint. So the verdict's order is not settled at every checkpoint.")
    adaptive["large"]["images"] = 300  # other images: no comparison
    assert "verdict" not in report.ddpm_length_finding(scores, adaptive)


def test_the_ddpm_length_scoring_read_is_this_settings_with_the_most_checkpoints_then_images(tmp_path):
    params = {"data": {"dataset": "MNIST"}, "adaptive": {"images": 1000}}
    for name, dataset, epochs, images in (("fewer", "MNIST", [3, 30], 1000), ("smaller", "MNIST", [1, 3, 10, 30], 200),
                                          ("full", "MNIST", [1, 3, 10, 30], 1000),
                                          ("fashion", "FashionMNIST", [1, 3, 10, 30, 100], 1000)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "params.yaml").write_text(yaml.safe_dump(params | {"data": {"dataset": dataset}}))
        (tmp_path / name / "scores.json").write_text(json.dumps(
            {"images": images, "checkpoints": {str(e): {} for e in epochs}}))
    folder, scores = report.ddpm_length_run(tmp_path, params)
    assert folder.name == "full" and scores["images"] == 1000
    (tmp_path / "full" / "params.yaml").unlink()  # a folder without its run's params is never read
    assert report.ddpm_length_run(tmp_path, params)[0].name == "smaller"


def verdict_run(eps: float, diffdefense: int, binarize: int, paired: dict) -> dict:
    """An adaptive.json with two rows on 100 images (10 through the defence), robust counts as given."""
    def row(robust):
        return {"clean": acc(95, 100), "robust_all": acc(robust, 100), "robust_all_worst_of_draws": acc(robust, 100)}
    return {"evaluation_draws": 3, "surrogate": {"pgd": {"attack": "pgd", "eps": eps}},
            "large": {"images": 100, "defences": {"diffdefense": row(diffdefense), "binarize": row(binarize)},
                      "paired_robust_all": paired},
            "subset": {"images": 10, "defences": {"diffdefense": {"robust_all_worst_of_draws": acc(5, 10)},
                                                   "binarize": {"robust_all_worst_of_draws": acc(6, 10)}}}}


def test_the_datasets_verdicts_sit_side_by_side_with_their_eps_and_a_sentence_each_from_the_paired_test():
    mnist = verdict_run(0.3, 70, 82, {"diffdefense_vs_binarize": {"worst": PAIRED["diffdefense_vs_binarize"]["worst"]}})
    fashion = verdict_run(0.1, 60, 58, {"diffdefense_vs_binarize": {"worst": PAIRED["diffdefense_vs_binarize"]["one"]}})
    text = report.datasets_verdict_markdown({"MNIST": mnist, "FashionMNIST": fashion})
    assert "| MNIST | 0.3 | DiffDefense | 95.0 [88.8, 97.8] | 70.0 [60.4, 78.1] | 70.0 [60.4, 78.1] | 50.0 [23.7, 76.3] (10) |" in text
    assert "| FashionMNIST | 0.1 | binarize |" in text
    sentences = [line for line in text.splitlines() if line.startswith("- ")]
    assert sentences[0].startswith("- **MNIST** (L∞ ε 0.3, 100 images, worst of 3 draws): DiffDefense keeps 70.0")
    assert sentences[0].endswith("DiffDefense is measurably less robust than binarize (McNemar p = 0.0005).")
    assert sentences[1].endswith("DiffDefense does not differ measurably from binarize (McNemar p = 1).")


def test_a_committed_run_from_before_the_draws_is_left_out_of_the_side_by_side_verdict():
    old = {"large": {"images": 100, "defences": {"diffdefense": {"clean": 90.0, "robust_all": 40.0}}}}
    assert not report.has_current_verdict(old)
    assert report.has_current_verdict(verdict_run(0.1, 60, 58, {}))


def test_the_generators_table_shows_each_dataset_s_ddpm_and_gan_against_clean_images():
    table3 = {"ddpm": {"timesteps": 100, "samples_confident": acc(40, 500)},
              "generator": {"samples_confident": acc(150, 500), "clean_confident": acc(46, 50)}}
    older = {"generator": {"samples_confident": acc(100, 500), "clean_confident": acc(45, 50)}}
    lines = report.generators_markdown({"MNIST": (table3, {"step": 3, "held_out_eps_mse": 0.05871}),
                                        "FashionMNIST": (older, {"step": 5})}).splitlines()
    assert lines[2] == "| MNIST | 3 | 0.0587 | 8.0 [5.9, 10.7] | 30.0 [26.1, 34.2] | 92.0 [81.2, 96.8] |"
    assert lines[3].startswith("| FashionMNIST | 5 | – | – | 20.0")


def test_pgd_training_note_places_the_published_autoattack_number_against_our_interval():
    trained = {"step": 10, "test": {"accuracy": 98.4, "images": 10000, "ci_low": 98.1, "ci_high": 98.6}}
    cfg = {"adversarial": {"attack": "pgd", "eps": 0.3, "step": 0.375, "steps": 1, "restarts": 1}}

    def table2(aa):
        return {"pgd": {"pgd_adversarial_training": {"accuracy": 90.0, "images": 200, "ci_low": 85.1, "ci_high": 93.4}},
                "autoattack": {"pgd_adversarial_training": aa}}

    inside = report.pgd_training_note(trained, table2({"accuracy": 81.0, "images": 500, "ci_low": 77.3,
                                                       "ci_high": 84.2}), cfg, 20, "MNIST")
    assert "10 epochs of fast adversarial training" in inside and "(500 images)" in inside
    assert "(82.93 %) is inside our interval" in inside
    below = report.pgd_training_note(trained, table2({"accuracy": 54.0, "images": 100, "ci_low": 44.3,
                                                      "ci_high": 63.4}), cfg, 20, "MNIST")
    assert "(82.93 %) is 19.5 to 38.6 points above ours" in below
    assert "fra31" not in report.pgd_training_note(trained, table2({"accuracy": 54.0, "images": 100, "ci_low": 44.3,
                                                                    "ci_high": 63.4}), cfg, 20, "FashionMNIST")
    assert report.pgd_training_note(None, table2(None), cfg, 20, "MNIST") == ""
    # a multi-step PGD recipe is placed against Madry et al.'s published number, not Wong et al.'s
    madry = {"adversarial": cfg["adversarial"] | {"steps": 40, "step": 0.01}}
    assert "(88.50 %) is inside our interval" in report.pgd_training_note(
        trained, table2({"accuracy": 88.0, "images": 500, "ci_low": 84.9, "ci_high": 90.6}), madry, 20, "MNIST")


def test_a_wider_pgd_training_check_is_read_only_for_this_runs_recipe(tmp_path):
    params = yaml.safe_load(open("params.yaml"))
    check = {"recipe": params["train_classifier"]["A_pgd"], "dataset": params["data"]["dataset"],
             "attack_settings": {n: params["attack"]["settings"][n] for n in ("pgd", "autoattack")},
             "model_md5": "0123456789abcdef", "clean_test": {},
             "pgd": {"accuracy": 90.0, "images": 500, "ci_low": 87.1, "ci_high": 92.3},
             "autoattack": {"accuracy": 81.0, "images": 500, "ci_low": 77.3, "ci_high": 84.2}}
    (tmp_path / "A_pgd-500").mkdir()
    (tmp_path / "A_pgd-500" / "pgd-training.json").write_text(json.dumps(check))
    found = report.wider_pgd_training_check(tmp_path, params)
    assert found and found[0].name == "A_pgd-500"
    trained = {"step": 10, "test": {"accuracy": 98.4, "images": 10000, "ci_low": 98.1, "ci_high": 98.6}}
    table2 = {"pgd": {"pgd_adversarial_training": {"accuracy": 90.0, "images": 200, "ci_low": 85.1, "ci_high": 93.4}},
              "autoattack": {"pgd_adversarial_training": {"accuracy": 54.0, "images": 100, "ci_low": 44.3,
                                                          "ci_high": 63.4}}}
    note = report.pgd_training_note(trained, table2, params["train_classifier"]["A_pgd"], 20, "MNIST", found)
    assert "`results/A_pgd-500/` (md5 01234567), on 500 images" in note and "(82.93 %) is inside our interval" in note
    other = dict(params, train_classifier=dict(params["train_classifier"],
                                               A_pgd=dict(params["train_classifier"]["A_pgd"], epochs=3)))
    assert report.wider_pgd_training_check(tmp_path, other) is None  # another recipe's model: not this run's


def test_the_surrogates_are_judged_by_the_paired_test_of_the_two_tiers_where_the_subset_has_one():
    tier = {"images": 100, "defences": {d: {"robust_all": acc(50, 100), "robust_all_worst_of_draws": acc(50, 100)}
                                        for d in ("binarize", "diffdefense")}}

    def test(only_first, only_second, p_value):
        return {"worst": {"images": 100, "both": 40, "only_first": only_first, "only_second": only_second,
                          "p_value": p_value, "detectable_difference": 8.0}}

    subset = dict(tier, surrogates_vs_through={"binarize": test(0, 0, 1.0), "diffdefense": test(14, 1, 0.001)})
    adaptive = {"evaluation_draws": 3, "surrogate": {"pgd": {}}, "large": tier, "subset": subset}
    text = report.verdict_markdown({}, adaptive, 0.4)
    assert ("On the 100 subset images, every draw: DiffDefense: 14 images left standing by the surrogates but "
            "fooled through the defence, 1 the reverse (McNemar p = 0.001). The surrogate tier is measurably weaker "
            "than the attacks through the defence for DiffDefense") in text
    table = report.tiers_paired_markdown(subset)
    assert "| binarize | 100 | 0 | 0 | 1 | no significant difference | 8.0 points |" in table
    assert "| DiffDefense | 100 | 14 | 1 | 0.001 | the surrogates are weaker | 8.0 points |" in table
    subset["surrogates_vs_through"]["diffdefense"] = test(3, 2, 1.0)
    assert "For no row is the surrogate tier measurably weaker" in report.verdict_markdown({}, adaptive, 0.4)


def test_the_verdict_takes_its_subset_from_a_larger_through_the_defence_run_of_the_same_setting(tmp_path):
    params = {"data": {"dataset": "MNIST"}, "adaptive": {"images": 1000, "through_images": 20}}
    own = {"large": {"images": 1000}, "subset": {"images": 20}}

    def commit(name, through, images=1000):
        folder = tmp_path / name
        (folder / "metrics").mkdir(parents=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(
            {"data": {"dataset": "MNIST"}, "adaptive": {"images": images, "through_images": through}}))
        (folder / "metrics/adaptive.json").write_text(json.dumps({"large": {"images": through},
                                                                  "subset": {"images": through, "tag": name}}))

    assert report.verdict_evaluation(tmp_path, params, own) == (own, None, None)
    commit("through-100", 100)
    commit("through-200-other-images", 200, images=500)
    commit("through-10", 10)
    verdict, larger, through = report.verdict_evaluation(tmp_path, params, own)
    assert larger is None and through[0].name == "through-100"
    assert verdict == {"large": {"images": 1000}, "subset": {"images": 100, "tag": "through-100"}}
    # the detector's subset lines too, for the rows whose threshold (calibration) is the same
    own["detection"] = {"rows": {"diffdefense": {"threshold": 0.5, "large": "own", "subset": "own 20"},
                                 "diffpure": {"threshold": 0.7, "large": "own", "subset": "own 20"}}}
    metrics = tmp_path / "through-100" / "metrics/adaptive.json"
    metrics.write_text(json.dumps(json.loads(metrics.read_text()) | {"detection": {"rows": {
        "diffdefense": {"threshold": 0.5, "large": "theirs", "subset": "theirs 100"},
        "diffpure": {"threshold": 0.6, "large": "theirs", "subset": "theirs 100"}}}}))
    rows = report.verdict_evaluation(tmp_path, params, own)[0]["detection"]["rows"]
    assert rows == {"diffdefense": {"threshold": 0.5, "large": "own", "subset": "theirs 100"},
                    "diffpure": {"threshold": 0.7, "large": "own", "subset": "own 20"}}


def test_the_variants_on_the_verdicts_images_answer_where_the_robustness_comes_from(tmp_path):
    def row(robust, clean_saturated, test=None):
        out = {"first_draw": {"clean": acc(990, 1000), "pgd": acc(robust + 50, 1000)},
               "robust_worst_of_draws": acc(robust, 1000), "saturated_first_100": {"clean": clean_saturated, "pgd": 0.5}}
        return out | ({"vs_default": {"worst": test}} if test else {})

    def test(only_first, only_second, p_value):
        return {"images": 1000, "only_first": only_first, "only_second": only_second, "p_value": p_value}

    variants = {"images": 1000, "evaluation_draws": 3, "surrogates": ["pgd"],
                "variants": {"default": row(760, 0.6), "unet_zeroed": row(700, 0.8, test(10, 70, 0.0)),
                             "clamp_output": row(755, 0.3, test(20, 25, 0.55))}}
    text = report.verdict_markdown({}, {"evaluation_draws": 3, "surrogate": {}, "large": {"images": 1000, "defences": {}},
                                        "subset": {"images": 20, "defences": {}}}, 0.4, None, variants)
    assert ("(the verdict's 1000 images, the surrogate attacks, robust under every one of 3 draws): as configured "
            "76.0 [73.3, 78.5] (60.0 % of pixels saturated on clean images); with the U-Net's noise prediction zeroed "
            "70.0 [67.1, 72.8] (less robust, McNemar p < 0.0001; 80.0 % of pixels saturated on clean images); with the "
            "output clamped instead of passed through a sigmoid 75.5 [72.7, 78.1] (no measurable difference, McNemar "
            "p = 0.55; 30.0 % of pixels saturated on clean images).") in text
    table = report.variants_markdown(variants)
    assert "| as configured | 99.0 [98.2, 99.5] | 81.0 [78.5, 83.3] | 76.0 [73.3, 78.5] | – | 60.0, 50.0 |" in table
    assert "| 10 / 70, p < 0.0001 | 80.0, 50.0 |" in table
    # read from results/ only where the run's params are this setting's
    params = {"adaptive": {"images": 1000}, "defend": {"diffdefense": {"L": 4}}}
    for name, L in (("other", 8), ("same", 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "params.yaml").write_text(yaml.safe_dump(params | {"defend": {"diffdefense": {"L": L}}}))
        (tmp_path / name / "variants.json").write_text(json.dumps(variants | {"tag": name}))
    folder, found = report.variants_on_verdict_run(tmp_path, params)
    assert folder.name == "same" and found["tag"] == "same"


def test_a_committed_autoattack_check_of_a_pgd_is_set_beside_its_surrogate_number_and_diffdefenses():
    adaptive = {"large": {"defences": {"diffdefense": {"robust_all_worst_of_draws": acc(764, 1000)},
                                       "A_pgd": {"robust_all_worst_of_draws": acc(848, 1000)}}}}
    wider = (Path("results/A_pgd-autoattack-500"), {"autoattack": acc(373, 500)})
    line = report.robust_training_autoattack_line(adaptive, wider)
    assert line.startswith("- **A_pgd under AutoAttack** (`results/A_pgd-autoattack-500/`, 500 images)")
    assert ("500 images): 74.6 [70.6, 78.2], against 84.8 [82.4, 86.9] under this run's surrogates (1000 images; "
            "so the surrogate tier overstates A_pgd's robustness). DiffDefense's 76.4 [73.7, 78.9] (surrogates, "
            "every draw) is within the intervals of A_pgd's AutoAttack number") in line
    assert report.robust_training_autoattack_line(adaptive, None) is None
