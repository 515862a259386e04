"""The two-tier adaptive evaluation: does a defence hold against an attacker who knows it, and does its
reconstruction-error detector?

Careful evaluators of a costly defence (Athalye et al., 2018; Tramer et al., 2020) attack cheap surrogates
hard and spend the expensive attacks through the defence on a subset; so does `adaptive_evaluation`:
- on every image: the surrogate attacks, each run on a row's bare classifier with no defence call
  (PGD; PGD through a relaxation of thresholding, the exact attack on binarisation);
- on the first `through_images`, in addition: BPDA + EOT PGD through the defence and, for defences
  differentiable end to end, full-gradient EOT PGD; for rows with a detector, the detector-aware BPDA +
  EOT PGD; and optionally the same with the defence's seed fixed and known.
Every image is scored under `evaluation_draws` fresh draws of the defence's randomness that no attack saw:
robust means correct under every attack the image met, under the first draw, every draw or most draws.
The chosen row is compared with each other row on the same images by an exact McNemar test.

Detection: for each row whose defence reconstructs (not the identity), a threshold on its per-image
reconstruction error is set at `false_positive_rate` on clean calibration images that are not the test
images; each attacked set then gets its ROC AUC against the clean test images (bootstrap interval), its
detection rate at that threshold and its robust-or-detected accuracy (right, or flagged), under the first
draw, with the clean images' false-positive rate beside them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from .adaptive import eot_pgd, robust_over_draws
from .attacks import build_attack
from .defended import DefendedClassifier, detection_threshold
from .defences import Defence, DefenceContext, build_defence
from .errors import check_one_of
from .models import CLASSIFIERS, load_classifier
from .pipeline import DEFENDED_CLASSIFIER
from .precision import Autocast
from .statistics import auc_interval, mcnemar, summarise

FRESH_DRAW = 10**6  # evaluation draws start here, so the attack never sees the noise it is scored with
ATTACK_NAMES = {"bpda": "bpda_eot_pgd", "full": "full_gradient_pgd", "aware": "detector_aware_bpda_eot_pgd"}
RULE_KEYS = {"one": "robust_all", "worst": "robust_all_worst_of_draws", "majority": "robust_all_majority_of_draws"}


def surrogate_attacks(surrogate: dict[str, dict], classifier: nn.Module, classifier_name: str | None = None,
                      default_classifiers: Iterable[str] = ()) -> dict[str, Callable]:
    """The surrogate attacks built on `classifier`: `surrogate` maps a name to {attack: <registry name>,
    classifiers: [the classifier names it runs on; `default_classifiers` if absent], precision: fp32 (default)
    or bf16 (its forward passes under autocast), ...its settings}. Only those that run on `classifier_name`
    (every one when it is None: to check their settings)."""
    built = {}
    for name, settings in surrogate.items():
        settings = dict(settings)
        if classifier_name is None or classifier_name in settings.pop("classifiers", default_classifiers):
            settings.pop("classifiers", None)
            model = Autocast(classifier) if settings.pop("precision", "fp32") == "bf16" else classifier
            built[name] = build_attack(settings.pop("attack"), model, settings, f"adaptive.surrogate.{name}")
    return built


@dataclass
class Row:
    """One row of the verdict: `defence` in front of the classifier named `classifier`."""

    name: str
    classifier: str
    defence: Defence
    seed: int = 0  # the defence's deployment seed (for the attack that knows it)


def verdict_rows(params: dict, models_dir: Path, device: torch.device) -> tuple[dict[str, nn.Module], list[Row]]:
    """The verdict's classifiers and rows from a params file: each of adaptive.defences (as defend.<defence>
    sets it) in front of classifier A, then each of adaptive.robust_classifiers on its own (no defence)."""
    cfg = params["adaptive"]
    for name in cfg["robust_classifiers"]:
        check_one_of("adaptive.robust_classifiers", name, [c for c in CLASSIFIERS if c != DEFENDED_CLASSIFIER])
    classifiers = {c: load_classifier(c, Path(models_dir) / f"classifier_{c}.safetensors", device)
                   for c in [DEFENDED_CLASSIFIER] + cfg["robust_classifiers"]}
    ctx = DefenceContext(Path(models_dir), device, params["defend"]["batch_size"])
    rows = [Row(d, DEFENDED_CLASSIFIER, build_defence(d, params["defend"].get(d, {}), ctx),
                params["defend"].get(d, {}).get("seed", 0)) for d in cfg["defences"]]
    return classifiers, rows + [Row(c, c, build_defence("none", {}, ctx)) for c in cfg["robust_classifiers"]]


@dataclass
class Detection:
    """The reconstruction-error detector: threshold at `false_positive_rate` on `calibration` clean images
    (never test images), bootstrap intervals of the AUC with `resamples` and `seed`; `aware_rows`: the rows
    also met by the detector-aware attack on the subset."""

    calibration: torch.Tensor
    false_positive_rate: float = 0.05
    aware_rows: list[str] = field(default_factory=lambda: ["diffdefense"])
    resamples: int = 1000
    seed: int = 0


@dataclass
class AdaptiveResult:
    """What `adaptive_evaluation` returns: the metrics, one table line per row and measure, and the cost."""

    metrics: dict  # metrics/adaptive.json: both tiers, paired tests, detection, budget yields
    rows: list[dict]  # plots/adaptive.csv, one line per row and measure
    seconds_per_image: dict[str, dict[str, float]]
    adversarials: dict[str, dict[str, torch.Tensor]]  # classifier -> surrogate -> images (they never call a defence)


def adaptive_evaluation(classifiers: dict[str, nn.Module], rows: list[Row], images: torch.Tensor,
                        labels: torch.Tensor, *, surrogate: dict[str, dict], attack: dict, full_gradient: dict,
                        through_images: int, evaluation_draws: int = 3, fixed_seed: bool = False,
                        compared: str = "diffdefense", detection: Detection | None = None,
                        confidence: float = 0.95, device: torch.device | str = "cpu", progress_bar: bool = False,
                        say: Callable[[str], None] = print,
                        adversarials: dict[str, dict[str, torch.Tensor]] | None = None) -> AdaptiveResult:
    """Run the two tiers on `images` (N x C x H x W in [0, 1]) for each of `rows`.

    `classifiers` maps the names rows use to trained classifiers; `surrogate` maps a surrogate's name to
    {attack: <registry name>, classifiers: [names it runs on; all if absent], ...its settings}; `attack`
    holds eot_pgd's settings for the subset tier and `full_gradient` what the full gradient through a
    purifier changes of them. `adversarials` (classifier -> surrogate -> images, as a result's): surrogate
    adversarials of these images made earlier, used instead of attacking again (they never call a defence)."""
    n, k = len(images), through_images
    draws = [FRESH_DRAW + i for i in range(evaluation_draws)]
    seconds: dict[str, dict[str, float]] = {}

    def timed(row: str, what: str, count: int, run):
        start = time.perf_counter()
        result = run()
        seconds.setdefault(row, {})[what] = round((time.perf_counter() - start) / count, 4)
        return result

    used = {row.classifier for row in rows}
    made = adversarials or {}
    adversarials = {}  # classifier -> surrogate name -> adversarial images: no defence call, shared by its rows
    budget_yield = {"surrogate": {}, "evaluation_draws": {}}
    for classifier_name, classifier in classifiers.items():
        if classifier_name not in used:
            continue
        if classifier_name in made:
            adversarials[classifier_name] = {a: x[:n] for a, x in made[classifier_name].items()}
            continue
        adversarials[classifier_name] = {}
        for attack_name, built in surrogate_attacks(surrogate, classifier, classifier_name, classifiers).items():
            say(f"{classifier_name}: surrogate {attack_name} on {n} images")
            adversarials[classifier_name][attack_name] = timed(
                classifier_name, attack_name, n, lambda: built(images.to(device), labels.to(device)).cpu())
            budget_yield["surrogate"].setdefault(classifier_name, {})[attack_name] = getattr(built, "yields", {})

    tiers = {"large": {}, "subset": {}}  # row -> per-attack accuracy and robust accuracy by rule
    robust = {"large": {}, "subset": {}}  # (row, rule) -> per-image robustness, for the paired tests
    surrogates_vs_through = {}  # row -> rule -> McNemar: robust to the surrogates against robust through the defence
    detected = {}
    for row in rows:
        defence = row.defence
        gradients = ["full"] if defence.identity else ["bpda", "full"] if defence.differentiable else ["bpda"]
        models = {g: DefendedClassifier(classifiers[row.classifier], defence, g) for g in gradients}
        scorer = models[gradients[0]]  # scoring runs the plain purification, whatever the gradient
        large_sets = {"clean": images} | adversarials[row.classifier]
        scores = timed(row.name, "scoring", n, lambda: robust_over_draws(scorer, large_sets, labels, draws))
        budget_yield["evaluation_draws"][row.name] = {
            "images": n, "robust_worst": int(scores.robust["worst"].sum()),
            "decided_by_last_draw": int(scores.decided_by_last_draw.sum())}
        tiers["large"][row.name] = {name: summarise(c, confidence) for name, c in scores.first_draw.items()}
        tiers["large"][row.name] |= {RULE_KEYS[r]: summarise(c, confidence) for r, c in scores.robust.items()}
        robust["large"] |= {(row.name, r): c for r, c in scores.robust.items()}

        threshold = None
        if detection is not None and not defence.identity:
            scorer.redraw(draws[0])
            calibration = timed(row.name, "calibration", len(detection.calibration), lambda: scorer.purify(
                detection.calibration.to(device)).recon_error.float().cpu())
            threshold = detection_threshold(calibration, detection.false_positive_rate)

        def attack_through(model: DefendedClassifier, gradient: str, changes: dict) -> torch.Tensor:
            """eot_pgd through the defence on the subset; the full gradient through a purifier costs several
            BPDA steps, so it gets its own, smaller budget."""
            budget = full_gradient if gradient == "full" and "bpda" in models else {}
            return eot_pgd(model, images[:k].to(device), labels[:k].to(device), progress_bar=progress_bar,
                           **attack | budget | changes).cpu()

        through = dict(models)
        if threshold is not None and row.name in detection.aware_rows:
            through["aware"] = models["bpda"] if "bpda" in models else models["full"]
        adversarial = {}
        for gradient, model in through.items():
            name = ATTACK_NAMES[gradient]
            changes = {} if defence.randomised else {"eot_samples": 1}  # EOT needs randomness
            changes = changes | ({"detector_threshold": threshold} if gradient == "aware" else {})
            say(f"{row.name}: {name} on {k} images")
            adversarial[name] = timed(row.name, name, k, lambda: attack_through(model, gradient, changes))
        subset_scores = robust_over_draws(scorer, adversarial, labels[:k], draws)
        subset = {name: c[:k] for name, c in scores.first_draw.items()} | subset_scores.first_draw
        by_rule_k = {r: c & scores.robust[r][:k] for r, c in subset_scores.robust.items()}
        tiers["subset"][row.name] = {name: summarise(c, confidence) for name, c in subset.items()}
        tiers["subset"][row.name] |= {RULE_KEYS[r]: summarise(c, confidence) for r, c in by_rule_k.items()}
        robust["subset"] |= {(row.name, r): c for r, c in by_rule_k.items()}
        surrogates_vs_through[row.name] = {r: mcnemar(scores.robust[r][:k], c) for r, c in subset_scores.robust.items()}
        if threshold is not None:
            detected[row.name] = detection_metrics(
                threshold, detection, confidence,
                large=(scores.recon_error, scores.first_draw), subset=(subset_scores.recon_error, subset_scores.first_draw))
        if fixed_seed and defence.randomised:
            # the deployment that fixes its seed: deterministic, and an attacker who knows the seed needs no EOT
            fixed = {}
            for gradient, model in models.items():
                say(f"{row.name}, seed fixed at {row.seed}: {ATTACK_NAMES[gradient]} on {k} images")
                fixed[f"{ATTACK_NAMES[gradient]}_fixed_seed"] = attack_through(
                    model, gradient, {"fixed_seed": row.seed, "eot_samples": 1})
            seeded = robust_over_draws(
                scorer, {name: x[:k] for name, x in adversarials[row.classifier].items()} | fixed, labels[:k], [row.seed])
            tiers["subset"][row.name] |= {name: summarise(c, confidence) for name, c in seeded.first_draw.items()
                                          if name in fixed}
            tiers["subset"][row.name]["robust_all_fixed_seed"] = summarise(seeded.robust["one"], confidence)
        say(f"  {n} images: " + ", ".join(f"{a} {v['accuracy']:.1f}%" for a, v in tiers["large"][row.name].items()))
        say(f"  {k} images: " + ", ".join(f"{a} {v['accuracy']:.0f}%" for a, v in tiers["subset"][row.name].items()))

    metrics = {"evaluation_draws": evaluation_draws, "surrogate": surrogate, "attack": attack,
               "full_gradient": full_gradient, "budget_yield": budget_yield}
    table = []
    names = [row.name for row in rows]
    for tier, count in (("large", n), ("subset", k)):
        paired = {f"{compared}_vs_{other}": {rule: mcnemar(robust[tier][compared, rule], robust[tier][other, rule])
                                             for rule in RULE_KEYS}
                  for other in names if other != compared and compared in names}
        metrics[tier] = {"images": count, "defences": tiers[tier], "paired_robust_all": paired}
        table += [{"defence": row, "evaluation": f"{name} ({tier}, {count} images)"} | value
                  for row, by_name in tiers[tier].items() for name, value in by_name.items()]
    # on the subset: is each row's surrogate tier as strong as its attacks through the defence? (only_first:
    # images the surrogates left standing that an attack through the defence fooled)
    metrics["subset"]["surrogates_vs_through"] = surrogates_vs_through
    if detection is not None:
        metrics["detection"] = {"false_positive_rate": detection.false_positive_rate,
                                "calibration_images": len(detection.calibration), "rows": detected}
    return AdaptiveResult(metrics, table, seconds, adversarials)


def detection_metrics(threshold: float, detection: Detection, confidence: float, *, large: tuple[dict, dict],
                      subset: tuple[dict, dict]) -> dict:
    """Per attacked set of each tier: ROC AUC of its first-draw reconstruction errors against the clean
    test images' (with a bootstrap interval), the fraction flagged at `threshold`, and robust-or-detected
    accuracy (right under the first draw, or flagged); the clean images' false-positive rate; and over all
    attacks of a tier, the images right or flagged under every attack they met."""
    (errors, right), (sub_errors, sub_right) = large, subset
    clean = errors["clean"].numpy()
    k = len(next(iter(sub_right.values())))
    tiers = {"large": (errors, right),
             "subset": ({n: e[:k] for n, e in errors.items()} | sub_errors, {n: r[:k] for n, r in right.items()} | sub_right)}
    out = {"threshold": threshold, "clean_flagged": summarise(errors["clean"] > threshold, confidence)}
    for tier, (tier_errors, tier_right) in tiers.items():
        per_set, every = {}, torch.ones(len(tier_right["clean"]), dtype=torch.bool)
        for name, error in tier_errors.items():
            if name == "clean":
                continue
            flagged = error > threshold
            kept = tier_right[name] | flagged
            every &= kept
            low, high = auc_interval(clean, error.numpy(), confidence=confidence, resamples=detection.resamples,
                                     seed=detection.seed)
            auc = roc_auc_score(np.r_[np.zeros(len(clean)), np.ones(len(error))], np.r_[clean, error.numpy()])
            per_set[name] = {"auc": round(float(auc), 4), "auc_ci": [round(low, 4), round(high, 4)],
                             "detected": summarise(flagged, confidence),
                             "robust_or_detected": summarise(kept, confidence)}
        out[tier] = per_set | {"every_attack": {"robust_or_detected": summarise(every, confidence)}}
    return out
