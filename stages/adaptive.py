"""Does a defence hold against an attacker who knows it? Each defence in adaptive.defences with classifier
A behind it, and each robustly trained classifier in adaptive.robust_classifiers on its own, as rows.

Careful evaluators of a costly defence (Athalye et al., 2018; Tramer et al., 2020) attack cheap surrogates
hard and spend the expensive attacks through the defence on a subset; so does this stage:
- on all `adaptive.images` test images (drawn from the test split on their own, whatever data.test_size
  is): the surrogate attacks of adaptive.surrogate, run on each row's bare classifier with no defence
  call (PGD; PGD through a relaxation of thresholding, the exact attack on binarisation), each on the
  classifiers its `classifiers` list names (all, if it has none);
- on the first `adaptive.through_images` of them, in addition: BPDA + EOT PGD through the defence and,
  for defences differentiable end to end, full-gradient EOT PGD (adaptive.full_gradient), and with
  adaptive.fixed_seed the same with the defence's seed fixed and known.
Every image is scored under `adaptive.evaluation_draws` fresh draws of the defence's randomness that no
attack saw: robust means correct under every attack the image met, under the first draw, every draw or
most draws. DiffDefense is compared with each other row on the same images by an exact McNemar test, with
the smallest difference the test could detect. What the last restarts, steps and draws still found goes
to metrics/adaptive.json's budget_yield. Writes metrics/adaptive.json, plots/adaptive.csv and the
seconds per image of each attack to metrics/timing/adaptive.json (read by the report only)."""

import time

import pandas as pd
import torch

from diffdefense.adaptive import WITHOUT_LAST_DRAW, eot_pgd, evaluation_images, robust_over_draws
from diffdefense.attacks import build_attack
from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split
from diffdefense.defended import DefendedClassifier
from diffdefense.defences import DefenceContext, build_defence
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_one_of, settings_of
from diffdefense.io import write_csv, write_json
from diffdefense.models import CLASSIFIERS, load_classifier
from diffdefense.pipeline import DEFENDED_CLASSIFIER, MODELS_DIR
from diffdefense.seeding import seed_everything
from diffdefense.sharding import is_writer, process_group
from diffdefense.statistics import mcnemar, summarise

FRESH_DRAW = 10**6  # evaluation draws start here, so the attack never sees the noise it is scored with
COMPARED = "diffdefense"  # the defence the paired tests compare with each other row
ATTACK_NAMES = {"bpda": "bpda_eot_pgd", "full": "full_gradient_pgd"}
RULE_KEYS = {"one": "robust_all", "worst": "robust_all_worst_of_draws", "majority": "robust_all_majority_of_draws"}


def main():
    params = load_params()
    cfg, data = section(params, "adaptive"), section(params, "data")
    confidence = section(params, "statistics", "confidence")
    test_images, test_labels = load_split("data/raw", data["dataset"], "test")
    check_int_range("adaptive.images", cfg["images"], 1, len(test_images))
    check_int_range("adaptive.through_images", cfg["through_images"], 1, cfg["images"])
    images, labels = evaluation_images(test_images, test_labels, cfg["images"], data["seed"])
    n, k = cfg["images"], cfg["through_images"]
    device = resolve_device(params["device"])
    seed_everything(cfg["attack"]["seed"])
    ctx = DefenceContext(MODELS_DIR, device, section(params, "defend", "batch_size"))
    for name in cfg["robust_classifiers"]:
        check_one_of("adaptive.robust_classifiers", name, [c for c in CLASSIFIERS if c != DEFENDED_CLASSIFIER])
    classifiers = {c: load_classifier(c, MODELS_DIR / f"classifier_{c}.safetensors", device)
                   for c in [DEFENDED_CLASSIFIER] + cfg["robust_classifiers"]}
    # rows: each defence in front of A, then each robustly trained classifier on its own (no defence)
    entries = ([(d, DEFENDED_CLASSIFIER, d) for d in cfg["defences"]]
               + [(c, c, "none") for c in cfg["robust_classifiers"]])
    draws = [FRESH_DRAW + i for i in range(cfg["evaluation_draws"])]
    say = print if is_writer() else lambda *_: None
    seconds: dict[str, dict[str, float]] = {}

    def timed(row: str, attack: str, count: int, run):
        start = time.perf_counter()
        result = run()
        seconds.setdefault(row, {})[attack] = round((time.perf_counter() - start) / count, 4)
        return result

    surrogate = {}  # classifier -> attack name -> adversarial images: no defence call, so shared by its rows
    budget_yield = {"surrogate": {}, "evaluation_draws": {}}  # what the last restarts, steps and draws found
    for classifier_name, classifier in classifiers.items():
        surrogate[classifier_name] = {}
        for attack_name, settings in cfg["surrogate"].items():
            settings = dict(settings)
            if classifier_name not in settings.pop("classifiers", classifiers):
                continue
            attack = build_attack(settings.pop("attack"), classifier, settings, f"adaptive.surrogate.{attack_name}")
            say(f"{classifier_name}: surrogate {attack_name} on {n} images")
            surrogate[classifier_name][attack_name] = timed(
                classifier_name, attack_name, n, lambda: attack(images.to(device), labels.to(device)).cpu())
            budget_yield["surrogate"].setdefault(classifier_name, {})[attack_name] = getattr(attack, "yields", {})

    def through(model: DefendedClassifier, **changes) -> torch.Tensor:
        with settings_of("adaptive.attack"):
            return eot_pgd(model, images[:k].to(device), labels[:k].to(device), progress_bar=is_writer(),
                           **cfg["attack"] | changes).cpu()

    tiers = {"large": {}, "subset": {}}  # row -> per-attack accuracy and robust accuracy by rule
    robust = {"large": {}, "subset": {}}  # (row, rule) -> per-image robustness, for the paired tests
    with process_group(device):  # under torchrun the processes share each attack's batches
        for row_name, classifier_name, defence_name in entries:
            settings = section(params, "defend", defence_name)
            defence = build_defence(defence_name, settings, ctx)
            # the identity has one gradient; a differentiable defence also gets the full one
            gradients = ["full"] if defence_name == "none" else ["bpda", "full"] if defence.differentiable else ["bpda"]
            models = {g: DefendedClassifier(classifiers[classifier_name], defence, g) for g in gradients}
            scorer = models[gradients[0]]  # scoring runs the plain purification, whatever the gradient
            large_sets = {"clean": images} | surrogate[classifier_name]
            first, by_rule = timed(row_name, "scoring", n, lambda: robust_over_draws(scorer, large_sets, labels, draws))
            without_last = by_rule.pop(WITHOUT_LAST_DRAW)
            budget_yield["evaluation_draws"][row_name] = {
                "images": n, "robust_worst_without_last_draw": int(without_last.sum()),
                "robust_worst": int(by_rule["worst"].sum()),
                "decided_by_last_draw": int((without_last & ~by_rule["worst"]).sum())}
            tiers["large"][row_name] = {name: summarise(c, confidence) for name, c in first.items()}
            tiers["large"][row_name] |= {RULE_KEYS[r]: summarise(c, confidence) for r, c in by_rule.items()}
            robust["large"] |= {(row_name, r): c for r, c in by_rule.items()}

            adversarial = {}
            for gradient, model in models.items():
                attack = ATTACK_NAMES[gradient]
                # the full gradient through a purifier costs several BPDA steps: its own, smaller budget
                changes = cfg["full_gradient"] if gradient == "full" and "bpda" in models else {}
                changes = changes | ({} if defence.randomised else {"eot_samples": 1})  # EOT needs randomness
                say(f"{row_name}: {attack} on {k} images")
                adversarial[attack] = timed(row_name, attack, k, lambda: through(model, **changes))
            first_k, by_rule_k = robust_over_draws(scorer, adversarial, labels[:k], draws)
            by_rule_k.pop(WITHOUT_LAST_DRAW)
            subset = {name: c[:k] for name, c in first.items()} | first_k
            by_rule_k = {r: c & by_rule[r][:k] for r, c in by_rule_k.items()}
            tiers["subset"][row_name] = {name: summarise(c, confidence) for name, c in subset.items()}
            tiers["subset"][row_name] |= {RULE_KEYS[r]: summarise(c, confidence) for r, c in by_rule_k.items()}
            robust["subset"] |= {(row_name, r): c for r, c in by_rule_k.items()}
            if cfg["fixed_seed"] and defence.randomised:
                # the deployment that fixes its seed: deterministic, and an attacker who knows the seed needs no EOT
                seed, fixed = settings["seed"], {}
                for gradient, model in models.items():
                    say(f"{row_name}, seed fixed at {seed}: {ATTACK_NAMES[gradient]} on {k} images")
                    changes = (cfg["full_gradient"] if gradient == "full" and "bpda" in models else {}) | {
                        "fixed_seed": seed, "eot_samples": 1}
                    fixed[f"{ATTACK_NAMES[gradient]}_fixed_seed"] = through(model, **changes)
                seeded, seeded_robust = robust_over_draws(
                    scorer, {name: x[:k] for name, x in surrogate[classifier_name].items()} | fixed, labels[:k], [seed])
                tiers["subset"][row_name] |= {name: summarise(c, confidence) for name, c in seeded.items() if name in fixed}
                tiers["subset"][row_name]["robust_all_fixed_seed"] = summarise(seeded_robust["one"], confidence)
            say(f"  {n} images: " + ", ".join(f"{a} {v['accuracy']:.1f}%" for a, v in tiers["large"][row_name].items()))
            say(f"  {k} images: " + ", ".join(f"{a} {v['accuracy']:.0f}%" for a, v in tiers["subset"][row_name].items()))
    if not is_writer():
        return
    result = {"classifier": DEFENDED_CLASSIFIER, "evaluation_draws": cfg["evaluation_draws"],
              "surrogate": cfg["surrogate"], "attack": cfg["attack"], "full_gradient": cfg["full_gradient"],
              "threads": torch.get_num_threads(), "budget_yield": budget_yield}
    rows = []
    for tier, count in (("large", n), ("subset", k)):
        paired = {f"{COMPARED}_vs_{other}": {rule: mcnemar(robust[tier][COMPARED, rule], robust[tier][other, rule])
                                             for rule in RULE_KEYS}
                  for other, _, _ in entries if other != COMPARED and COMPARED in cfg["defences"]}
        result[tier] = {"images": count, "defences": tiers[tier], "paired_robust_all": paired}
        rows += [{"defence": row, "evaluation": f"{name} ({tier}, {count} images)"} | value
                 for row, by_name in tiers[tier].items() for name, value in by_name.items()]
    write_json("metrics/adaptive.json", result)
    write_csv("plots/adaptive.csv", pd.DataFrame(rows))
    write_json("metrics/timing/adaptive.json", {"seconds_per_image": seconds})


if __name__ == "__main__":
    run_stage(main)
