"""The numbers the paper reports, kept beside ours in the metrics and the report (never used to tune)."""

# Table 1 (accuracy in %): dataset -> set -> (without defence, with DiffDefense).
TABLE1 = {
    "MNIST": {"clean": (99.14, 99.06),
              "deepfool-white": (0.95, 98.16), "deepfool-black": (97.17, 98.86),
              "pgd-white": (5.81, 95.94), "pgd-black": (51.28, 97.18),
              "fgsm-white": (23.72, 89.95), "fgsm-black": (15.81, 91.28)},
    "KMNIST": {"clean": (None, 95.18),
               "deepfool-white": (2.93, 93.92), "deepfool-black": (92.16, 93.92),
               "pgd-white": (26.83, 84.85), "pgd-black": (58.43, 91.49),
               "fgsm-white": (37.0, 79.5), "fgsm-black": (49.96, 88.53)},
}
# Tables 2, 3 and Fig. 4 are on MNIST only; other datasets get no reference numbers.
# Table 2: dataset -> attack -> (without defence, with DiffDefense, adversarial training).
TABLE2 = {"MNIST": {"fgsm": (23.72, 89.95, 98.02), "pgd": (5.81, 95.94, 79.59), "deepfool": (0.95, 98.16, 5.81),
                    "eotpgd": (24.57, 96.46, 89.22), "square": (43.31, 97.31, 93.09),
                    "autoattack": (1.26, 88.09, 45.86), "elasticnet": (0.75, 95.75, 0.62)}}
# Table 3 (white-box FGSM eps 0.3): dataset -> (defence, L, R) -> (seconds per image on their GPU, robust accuracy %).
TABLE3 = {"MNIST": {("defencegan", 25, 10): (0.086, 79.98), ("defencegan", 100, 1): (0.273, 50.11),
                    ("defencegan", 100, 10): (0.338, 89.11), ("defencegan", 200, 10): (0.675, 91.55),
                    ("diffdefense", 5, 1): (0.280, 87.78), ("diffdefense", 5, 5): (0.280, 89.95)}}
# Fig. 4: dataset -> attacks whose detection AUC the paper puts in [0.99, 1] (DeepFool and Elastic Net lower).
DETECTION_AUC_AT_LEAST_099 = {"MNIST": ("fgsm", "pgd", "eotpgd", "autoattack", "square")}

# Not the paper's: published adversarially trained MNIST models at L-inf eps 0.3, re-evaluated with
# AutoAttack (fra31/auto-attack README, MNIST table; ANCHORS.md): recipe -> (name, clean %, AutoAttack robust %);
# "fgsm" is one random-start FGSM step per batch (adversarial steps 1), "pgd" multi-step PGD training.
MNIST_ADVERSARIAL_TRAINING = {"fgsm": ("Wong et al. 2020 (fast adversarial training)", 98.50, 82.93),
                              "pgd": ("Madry et al. 2018 (40-step PGD training)", 98.53, 88.50)}
