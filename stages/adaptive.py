"""Honest robustness: each defence in adaptive.defences, with classifier A behind it, and each robustly
trained classifier in adaptive.robust_classifiers on its own, under the paper's non-adaptive sets, under
BPDA + EOT PGD through the defence and, for defences that are differentiable end to end, under
full-gradient EOT PGD; robust accuracy is the worst case per point over all of them (RobustBench).
With adaptive.fixed_seed, a randomised defence is also attacked and scored with its seed fixed and known
(deterministic; no EOT needed). A randomised defence is scored as the randomised-defence literature does: every image
under `adaptive.evaluation_draws` fresh draws of its randomness, none of which the attack saw, counting
it robust under all draws (worst case) or under most (majority vote). DiffDefense is compared with each
other defence on the same images by an exact McNemar test. Writes metrics/adaptive.json and
plots/adaptive.csv."""

import pandas as pd
import torch

from diffdefense.adaptive import correct_over_draws, eot_pgd, robust_correct
from diffdefense.cli import load_params, run_stage, section
from diffdefense.defended import DefendedClassifier
from diffdefense.defences import DefenceContext, build_defence
from diffdefense.device import resolve_device
from diffdefense.errors import check_int_range, check_one_of, settings_of
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.models import CLASSIFIERS, load_classifier
from diffdefense.pipeline import DEFENDED_CLASSIFIER, MODELS_DIR, SETS_DIR, defended_sets, made_by
from diffdefense.seeding import seed_everything
from diffdefense.sharding import is_writer, process_group
from diffdefense.statistics import mcnemar, summarise

FRESH_DRAW = 10**6  # evaluation draws start here, so the attack never sees the noise it is scored with
COMPARED = "diffdefense"  # the defence the paired tests compare with each other one
ATTACK_NAMES = {"bpda": "bpda_eot_pgd", "full": "full_gradient_pgd"}


def main():
    params = load_params()
    cfg = section(params, "adaptive")
    confidence = section(params, "statistics", "confidence")
    allowed = [s for s in defended_sets(section(params, "attack")) if s != "clean"]
    for name in cfg["non_adaptive"]:
        check_one_of("adaptive.non_adaptive", name, allowed)
    clean, _ = load_tensors(SETS_DIR / "clean.safetensors", "testset")
    check_int_range("adaptive.images", cfg["images"], 1, len(clean["images"]))
    n = cfg["images"]
    images, labels = clean["images"][:n], clean["labels"][:n]
    sets = {"clean": images}
    for name in cfg["non_adaptive"]:
        tensors, _ = load_tensors(SETS_DIR / f"{name}.safetensors", made_by(name))
        check_int_range("adaptive.images", n, 1, len(tensors["images"]))
        sets[name] = tensors["images"][:n]
    device = resolve_device(params["device"])
    seed_everything(cfg["attack"]["seed"])
    ctx = DefenceContext(MODELS_DIR, device, section(params, "defend", "batch_size"))
    classifier = load_classifier(DEFENDED_CLASSIFIER, MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors", device)

    # rows: each defence in front of A, then each robustly trained classifier on its own (no defence)
    for name in cfg["robust_classifiers"]:
        check_one_of("adaptive.robust_classifiers", name, [c for c in CLASSIFIERS if c != DEFENDED_CLASSIFIER])
    entries = [(d, classifier, d) for d in cfg["defences"]] + [
        (c, load_classifier(c, MODELS_DIR / f"classifier_{c}.safetensors", device), "none")
        for c in cfg["robust_classifiers"]]
    draws = [FRESH_DRAW + k for k in range(cfg["evaluation_draws"])]

    def attack(model: DefendedClassifier, **changes) -> torch.Tensor:
        with settings_of("adaptive.attack"):
            return eot_pgd(model, images.to(device), labels.to(device), progress_bar=is_writer(),
                           **cfg["attack"] | changes)

    say = print if is_writer() else lambda *_: None
    with process_group(device):  # under torchrun the processes share each attack's batches
        results, rows, robust = {}, [], {}
        for row_name, row_classifier, defence_name in entries:
            settings = section(params, "defend", defence_name)
            defence = build_defence(defence_name, settings, ctx)
            # the identity has one gradient; a differentiable defence also gets the full one
            gradients = ["full"] if defence_name == "none" else ["bpda", "full"] if defence.differentiable else ["bpda"]
            models = {gradient: DefendedClassifier(row_classifier, defence, gradient) for gradient in gradients}
            scorer = models[gradients[0]]  # scoring runs the plain purification, whatever the gradient
            adversarial = {}
            for gradient, model in models.items():
                say(f"{row_name}: {ATTACK_NAMES[gradient]} on {n} images")
                adversarial[ATTACK_NAMES[gradient]] = attack(model)
            scored = {name: correct_over_draws(scorer, x.to(device), labels, draws)
                      for name, x in (sets | adversarial).items()}
            correct = {name: by["one"] for name, by in scored.items()}
            attacks = [k for k in correct if k != "clean"]
            correct["robust_non_adaptive"] = robust_correct({k: correct[k] for k in attacks if k not in adversarial})
            for rule in ("one", "worst", "majority"):
                robust[row_name, rule] = robust_correct({k: scored[k][rule] for k in attacks})
            correct["robust_all"] = robust[row_name, "one"]
            correct["robust_all_worst_of_draws"] = robust[row_name, "worst"]
            correct["robust_all_majority_of_draws"] = robust[row_name, "majority"]
            if cfg["fixed_seed"] and defence.randomised:
                # the deployment that fixes its seed: deterministic, and an attacker who knows the seed needs no EOT
                seed, fixed = settings.get("seed", 0), {}
                for gradient, model in models.items():
                    say(f"{row_name}, seed fixed at {seed}: {ATTACK_NAMES[gradient]} on {n} images")
                    fixed[ATTACK_NAMES[gradient]] = attack(model, fixed_seed=seed, eot_samples=1)
                seeded = {name: correct_over_draws(scorer, x.to(device), labels, [seed])["one"]
                          for name, x in (sets | fixed).items() if name != "clean"}
                correct |= {f"{name}_fixed_seed": c for name, c in seeded.items() if name in fixed}
                correct["robust_all_fixed_seed"] = robust_correct(seeded)
            results[row_name] = {name: summarise(c, confidence) for name, c in correct.items()}
            rows += [{"defence": row_name, "evaluation": k} | v for k, v in results[row_name].items()]
            say("  " + ", ".join(f"{k} {v['accuracy']:.0f}%" for k, v in results[row_name].items()))
    if not is_writer():
        return
    paired = {f"{COMPARED}_vs_{other}": {rule: mcnemar(robust[COMPARED, rule], robust[other, rule])
                                         for rule in ("one", "worst", "majority")}
              for other, _, _ in entries if other != COMPARED and COMPARED in cfg["defences"]}
    write_json("metrics/adaptive.json", {"images": n, "classifier": DEFENDED_CLASSIFIER, "attack": cfg["attack"],
                                         "evaluation_draws": cfg["evaluation_draws"], "threads": torch.get_num_threads(),
                                         "defences": results, "paired_robust_all": paired})
    write_csv("plots/adaptive.csv", pd.DataFrame(rows))


if __name__ == "__main__":
    run_stage(main)
