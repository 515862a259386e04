"""Markdown for reports/REPORT.md: our numbers beside the paper's, from the pipeline's metrics files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from . import paper
from .params import PARAMS
from .settings import declared_default
from .statistics import outside

ATTACK_NAMES = {"clean": "Clean", "fgsm": "FGSM", "pgd": "PGD", "deepfool": "DeepFool", "eotpgd": "EOT+PGD",
                "square": "Square", "autoattack": "AutoAttack", "elasticnet": "Elastic Net"}
DEFENCE_NAMES = {"diffdefense": "DiffDefense", "defencegan": "Defense-GAN", "A_pgd": "PGD-style adv. training (A_pgd)"}


OUTSIDE = "✗"  # marks a paper number outside our interval


def cell(ours, reference=None) -> str:
    """'ours [interval] (paper)' with one decimal, the paper's number marked where it lies outside our
    interval; `ours` is an accuracy summary (statistics.accuracy_interval) or a bare number from older
    runs; '–' where a number does not exist."""
    if isinstance(ours, dict):
        text = "–" if ours.get("accuracy") is None else f"{ours['accuracy']:.1f} [{ours['ci_low']:.1f}, {ours['ci_high']:.1f}]"
    else:
        text = "–" if ours is None else f"{ours:.1f}"
    if reference is None:
        return text
    return f"{text} ({reference:.2f}{' ' + OUTSIDE if isinstance(ours, dict) and outside(reference, ours) else ''})"


INTERVAL_NOTE = (f"Each accuracy is followed by its 95 % Wilson interval in square brackets; {OUTSIDE} marks a paper "
                 "number outside our interval (a real difference, not sampling noise), and a paper claim of "
                 "AUC ≥ 0.99 that our bootstrap interval excludes.")


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def paper_header(header: list[str], has_reference: bool) -> list[str]:
    """`header` as is where the paper has numbers for this run, else without its "(paper...)" notes."""
    return header if has_reference else [re.sub(r" \(paper[^)]*\)", "", h) for h in header]


def table1_markdown(table1: dict) -> str:
    """Accuracy of A (%), ours with the paper's in brackets, per attack and setting."""
    accuracy, reference = table1["accuracy"], paper.TABLE1.get(table1["dataset"], {})
    defences = [d for d in accuracy["clean"] if d != "no_defence"]
    header = paper_header(["Attack", "Setting", "Images", "No defence (paper)"]
                          + [f"{DEFENCE_NAMES.get(d, d)} (paper)" for d in defences], bool(reference))
    rows = []
    for attack, by_box in accuracy.items():
        boxes = {"clean": by_box} if attack == "clean" else by_box
        for box, by_defence in boxes.items():
            key = "clean" if attack == "clean" else f"{attack}-{box}"
            paper_row = reference.get(key, (None, None))
            rows.append([ATTACK_NAMES.get(attack, attack), "–" if attack == "clean" else f"{box}-box",
                         by_defence["no_defence"]["images"], cell(by_defence.get("no_defence"), paper_row[0])]
                        + [cell(by_defence.get(d), paper_row[1] if d == "diffdefense" else None) for d in defences])
    return markdown_table(header, rows)


def datasets_markdown(table1s: dict[str, dict]) -> str:
    """Table 1 of several datasets side by side (dataset -> its table1.json): accuracy of A without and
    with DiffDefense per attack and setting, '–' where a dataset's run has no such set."""
    cells = {}  # (attack, setting) -> dataset -> (without, with)
    for dataset, table1 in table1s.items():
        for attack, by_box in table1["accuracy"].items():
            for box, by_defence in ({"clean": by_box} if attack == "clean" else by_box).items():
                cells.setdefault((attack, box), {})[dataset] = (by_defence.get("no_defence"), by_defence.get("diffdefense"))
    header = ["Attack", "Setting"] + [f"{d}: {column}" for d in table1s for column in ("no defence", "DiffDefense")]
    rows = [[ATTACK_NAMES.get(attack, attack), "–" if attack == "clean" else f"{box}-box"]
            + [cell(value) for d in table1s for value in by_dataset.get(d, (None, None))]
            for (attack, box), by_dataset in cells.items()]
    return markdown_table(header, rows)


ROBUST_TRAINING_NAMES = {"adversarial_training": "FGSM adv. training", "pgd_adversarial_training": "PGD-style adv. training"}


def table2_markdown(table2: dict) -> str:
    """Per attack: accuracy without defence, with DiffDefense, and of each robustly trained A that has a
    set (paper in brackets; it has FGSM adversarial training only)."""
    trained = [c for c in ROBUST_TRAINING_NAMES if any(row.get(c) for row in table2.values())]
    header = paper_header(["Attack", "Images", "No defence (paper)", "DiffDefense (paper)"]
                          + [ROBUST_TRAINING_NAMES[c] + (" (paper)" if c == "adversarial_training" else "")
                             for c in trained],
                          any(v is not None for row in table2.values() for v in row["paper"].values()))
    rows = []
    for attack, row in table2.items():
        ref = row["paper"]
        counts = dict.fromkeys(row[c]["images"] for c in ("without_defence", *trained) if row.get(c))
        rows.append([ATTACK_NAMES.get(attack, attack), " / ".join(map(str, counts)),
                     cell(row["without_defence"], ref["without_defence"]),
                     cell(row["with_defence"], ref["with_defence"])]
                    + [cell(row.get(c), ref.get(c)) for c in trained])
    return markdown_table(header, rows)


def wider_pgd_training_check(results: Path, params: dict) -> tuple[Path, dict] | None:
    """A committed check of this run's A_pgd on more images (scripts/pgd_training_check.py): (its folder,
    its pgd-training.json) for the one with the most AutoAttack images among those whose recipe, dataset and
    attack settings are this run's, if it has more than this run's own AutoAttack set."""
    found = []
    for path in sorted(Path(results).glob("*/pgd-training.json")):
        check = json.loads(path.read_text())
        if (check["recipe"] == params["train_classifier"].get("A_pgd")
                and check["dataset"] == params["data"]["dataset"]
                and all(check["attack_settings"][name] == params["attack"]["settings"][name]
                        for name in check["attack_settings"])):
            found.append((path.parent, check))
    own = params["attack"]["sets"].get("autoattack-pgdtrained", {}).get("images", params["data"]["test_size"])
    best = max(found, key=lambda run: run[1]["autoattack"]["images"], default=None)
    return best if best and best[1]["autoattack"]["images"] > min(own, params["data"]["test_size"]) else None


def robust_training_autoattack_line(adaptive: dict, wider: tuple[Path, dict] | None) -> str | None:
    """A verdict line where a committed AutoAttack check of the robustly trained row (wider_pgd_training_check)
    exists: its AutoAttack accuracy beside that row's surrogate-tier number and DiffDefense's (worst of draws),
    each compared by their intervals (different image sets, so no paired test)."""
    rows = adaptive["large"]["defences"]
    if wider is None or "A_pgd" not in rows or "diffdefense" not in rows:
        return None
    folder, check = wider
    aa, surrogate = check["autoattack"], rows["A_pgd"]["robust_all_worst_of_draws"]
    diffdefense = rows["diffdefense"]["robust_all_worst_of_draws"]
    order = {1: "above", -1: "below", 0: "within the intervals of"}
    overstated = ("so the surrogate tier overstates A_pgd's robustness" if _interval_order(surrogate, aa) == 1
                  else "within the intervals")
    return (f"- **A_pgd under AutoAttack** (`results/{folder.name}/`, "
            f"{aa['images']} images): {cell(aa)}, against {cell(surrogate)} under this run's surrogates "
            f"({surrogate['images']} images; {overstated}). DiffDefense's {cell(diffdefense)} (surrogates, every "
            f"draw) is {order[_interval_order(diffdefense, aa)]} A_pgd's AutoAttack number (different images: "
            "intervals, not a paired test).")


def pgd_training_note(trained: dict | None, table2: dict, cfg: dict | None, pgd_steps: int, dataset: str,
                      wider: tuple[Path, dict] | None = None) -> str:
    """The PGD-style trained classifier (A_pgd) in one paragraph: its recipe, clean accuracy on the test split,
    PGD and AutoAttack accuracy (also on more images where `wider`, from wider_pgd_training_check, has them),
    and, on MNIST at eps 0.3, the published models' AutoAttack numbers beside the largest count's ('' where
    the run has no such classifier or no AutoAttack set on it)."""
    if not trained or not (table2.get("autoattack") or {}).get("pgd_adversarial_training"):
        return ""
    adv, aa = cfg["adversarial"], table2["autoattack"]["pgd_adversarial_training"]
    pgd = table2["pgd"]["pgd_adversarial_training"]
    epochs = trained["step"]
    recipe = (f"fast adversarial training, FGSM from a random start with step {adv['step']} (Wong et al., 2020)"
              if adv["steps"] == 1 else f"{adv['steps']}-step PGD of step {adv['step']}")
    text = (f"A_pgd: {epochs} epoch{'s' * (epochs != 1)} of {recipe}: {cell(trained['test'])} % clean on the "
            f"{trained['test']['images']} test images, {cell(pgd)} under {pgd_steps}-step PGD ({pgd['images']} images) "
            f"and {cell(aa)} under AutoAttack ({aa['images']} images).")
    if wider:
        folder, check = wider
        aa = check["autoattack"]
        text += (f" The same recipe's model, checked in `results/{folder.name}/` (md5 {check['model_md5'][:8]}), "
                 f"on {aa['images']} images: {cell(check['pgd'])} under PGD, "
                 f"{cell(aa)} under AutoAttack.")
    if dataset != "MNIST" or adv["eps"] != 0.3:
        return text
    published = "; ".join(f"{name}: {clean:.2f} % clean, {robust:.2f} % under AutoAttack"
                          for name, clean, robust in paper.MNIST_ADVERSARIAL_TRAINING.values())
    published_robust = paper.MNIST_ADVERSARIAL_TRAINING["fgsm" if adv["steps"] == 1 else "pgd"][2]
    gap_high, gap_low = published_robust - aa["ci_low"], published_robust - aa["ci_high"]
    where = ("inside our interval" if not outside(published_robust, aa) else
             f"{gap_low:.1f} to {gap_high:.1f} points above ours" if gap_low > 0 else
             f"{-gap_high:.1f} to {-gap_low:.1f} points below ours")
    return (f"{text} Published on MNIST at ε 0.3 (fra31/auto-attack's table, not the paper's): {published}. "
            f"The published AutoAttack number of this recipe ({published_robust:.2f} %) is {where}.")


def table3_markdown(table3: dict) -> str:
    """Accuracy on the attacked set (paper beside it) and on the same clean images, seconds per image with
    each row's time relative to the slowest DiffDefense row; under it, what the paper's Defense-GAN column
    can be compared with (`defencegan_note`)."""
    rows = list(table3["rows"].values())
    clean = any("clean" in r for r in rows)
    ours = [r["seconds_per_image"] for r in rows if r["defence"] == "diffdefense"]
    unit = max(ours) if ours else None
    header = paper_header(["Method", "L", "R", f"{table3['set']}: accuracy % (paper)"]
                          + (["clean: accuracy %"] if clean else []) + ["s / image (paper, GPU)"]
                          + (["Time vs DiffDefense (paper)"] if unit else []),
                          any(r["paper_accuracy"] is not None for r in rows))
    paper_unit = max((r["paper_seconds_per_image"] for r in rows
                      if r["defence"] == "diffdefense" and r["paper_seconds_per_image"]), default=None)
    body = []
    for r in rows:
        line = [DEFENCE_NAMES.get(r["defence"], r["defence"]), r["L"], r["R"], cell(r, r["paper_accuracy"])]
        line += [cell(r.get("clean"))] if clean else []
        line.append(f"{r['seconds_per_image']:.3f}" + (f" ({r['paper_seconds_per_image']:.3f})"
                                                      if r["paper_seconds_per_image"] else ""))
        if unit:
            ratio = f"{r['seconds_per_image'] / unit:.2f}×"
            if paper_unit and r["paper_seconds_per_image"]:
                ratio += f" ({r['paper_seconds_per_image'] / paper_unit:.2f}×)"
            line.append(ratio)
        body.append(line)
    note = defencegan_note(table3)
    return markdown_table(header, body) + (f"\n\n{note}" if note else "")


DEFENCEGAN_SOURCES = (
    "**What the paper's Defense-GAN column can be compared with.** The DiffDefense authors' code has no "
    "Defense-GAN, so where the paper's Defense-GAN numbers come from is unknown. If they were made with the "
    "public Defense-GAN code (github.com/kabkabm/defensegan, HEAD 7e3feae), they are not FGSM numbers: its "
    "`whitebox.py` adds the reconstruction to the model (`model.add_rec_model`) before FGSM is "
    "built on it, no gradient passes the z-updates, so the gradient is zero and the \"adversarial\" images "
    "equal the clean ones (issues #1 and #14 there; in #1 the maintainer confirmed \"the attack won't work "
    "because it goes through the reconstruction step too\", and in #2 wrote that the public code \"is very "
    "different than the one used for the paper\"). Run that way, the column measures Defense-GAN on clean "
    "images. Our {set} column is the attack crafted on classifier A alone, then purified (the paper's "
    "setting for DiffDefense); our clean column is the same test images unattacked.")


def defencegan_note(table3: dict) -> str:
    """The paragraph under Table 3 on the paper's Defense-GAN numbers: where they can come from, which of
    our columns they resemble (the one holding more of them inside its intervals, then the nearer on
    average), the gain from R 1 to 10 at L 100, and what the generator's samples look like; '' without
    Defense-GAN rows that have paper numbers."""
    rows = {(r["L"], r["R"]): r for r in table3["rows"].values()
            if r["defence"] == "defencegan" and r["paper_accuracy"] is not None}
    if not rows:
        return ""
    columns = {table3["set"]: rows}
    if all("clean" in r for r in rows.values()):
        columns["clean"] = {k: r["clean"] for k, r in rows.items()}
    fit = {name: (sum(not outside(rows[k]["paper_accuracy"], ours) for k, ours in by_row.items()),
                  sum(abs(ours["accuracy"] - rows[k]["paper_accuracy"]) for k, ours in by_row.items()) / len(rows))
           for name, by_row in columns.items()}
    best = max(fit, key=lambda name: (fit[name][0], -fit[name][1]))
    text = [DEFENCEGAN_SOURCES.format(set=table3["set"]),
            "The paper's Defense-GAN numbers lie inside our 95 % intervals in "
            + " and ".join(f"{inside} of {len(rows)} rows on {name} images (mean distance {distance:.1f} points)"
                           for name, (inside, distance) in fit.items())
            + (f": they resemble our {best} column." if fit[best][0] else
               f": they resemble neither column; the nearer is {best}.")]
    if (100, 1) in rows and (100, 10) in rows:
        gains = {name: by_row[100, 10]["accuracy"] - by_row[100, 1]["accuracy"] for name, by_row in columns.items()}
        text.append(f"From R 1 to R 10 at L 100 the paper gains "
                    f"{rows[100, 10]['paper_accuracy'] - rows[100, 1]['paper_accuracy']:+.1f} points; we gain "
                    + " and ".join(f"{gain:+.1f} on {name}" for name, gain in gains.items()) + ".")
    generator = table3.get("generator")
    if generator:
        kind = "a DCGAN" if generator["architecture"] == "dcgan" else "the authors' architecture"
        text.append(f"This run's generator is {kind} (width {generator['width']}, latent {generator['latent_dim']}).")
    if generator and "samples_confident" in generator:
        samples, clean = generator["samples_confident"], generator["clean_confident"]
        weaker = _interval_order(clean, samples) == 1
        text.append(f"Classifier A gives a class probability of at least 0.9 to {cell(samples)} % of "
                    f"{samples['images']} of its samples, against {cell(clean)} % of {clean['images']} clean test "
                    "images" + (": it recognises fewer of the generator's samples than real images, so "
                                "these rows also measure how far the generator is from the data." if weaker else "."))
        ddpm = table3.get("ddpm")
        if ddpm:  # the same measure for the DDPM DiffDefense reconstructs with
            text.append(f"On {ddpm['samples_confident']['images']} samples of the DDPM's full {ddpm['timesteps']}-step "
                        f"reverse process it does so for {cell(ddpm['samples_confident'])} %.")
    return " ".join(text)


def detection_markdown(detection: dict, dataset: str) -> str:
    """AUC and TPR at 5 % FPR per defence and attacked set, with the paper's claim where it made one."""
    header = ["Defence", "Attacked set", "Images (clean + attacked)", "AUC [95 % bootstrap interval]", "TPR at 5% FPR",
              "Paper"]
    rows = []
    for defence, by_set in detection.items():
        for name, m in by_set.items():
            if dataset not in paper.DETECTION_AUC_AT_LEAST_099:
                claim = "–"
            elif name.split("-")[0] in paper.DETECTION_AUC_AT_LEAST_099[dataset]:
                claim = "AUC ≥ 0.99" + (f" {OUTSIDE}" if m["auc_ci_high"] < 0.99 else "")
            else:
                claim = "lower (varies with T*)"
            rows.append([DEFENCE_NAMES.get(defence, defence), name, f"{m['clean_images']} + {m['attacked_images']}",
                         f"{m['auc']:.3f} [{m['auc_ci_low']:.3f}, {m['auc_ci_high']:.3f}]",
                         f"{m['tpr_at_5pct_fpr']:.2f}", claim])
    return markdown_table(header, rows)


def ablation_markdown(ablation: dict) -> str:
    """Accuracy per set for each value of each varied setting."""
    parts = []
    for varied, by_set in ablation["accuracy"].items():
        values = list(next(iter(by_set.values())))
        parts.append(markdown_table([f"{varied} →"] + values,
                                    [[name] + [cell(acc[v]) for v in values] for name, acc in by_set.items()]))
    return "\n\n".join(parts)


THROUGH_ATTACKS = ("bpda_eot_pgd", "full_gradient_pgd")  # the adaptive stage's attacks that call the defence
ADAPTIVE_COLUMNS = {"clean": "clean", "pgd": "PGD on the bare classifier (surrogate)",
                    "binarize_pgd": "PGD through relaxed thresholding (surrogate)",
                    "bpda_eot_pgd": "BPDA+EOT PGD (through the defence)",
                    "full_gradient_pgd": "full-gradient EOT PGD (through the defence)",
                    "bpda_eot_pgd_fixed_seed": "BPDA PGD, seed fixed and known",
                    "full_gradient_pgd_fixed_seed": "full-gradient PGD, seed fixed and known",
                    "robust_all_fixed_seed": "robust, seed fixed", "robust_all": "robust (one draw)",
                    "detector_aware_bpda_eot_pgd": "detector-aware BPDA+EOT PGD (through the defence)",
                    "every_attack": "every attack"}


def adaptive_detection_markdown(detection: dict) -> str:
    """The reconstruction-error detector deployed against the adaptive stage's attacks: per row, tier and
    attack, AUC against the clean test images, the fraction flagged at the calibrated threshold and
    robust-or-detected accuracy (right under the first draw, or flagged)."""
    rows = []
    for defence, by_tier in detection["rows"].items():
        rows.append([DEFENCE_NAMES.get(defence, defence), "clean (false positives)", by_tier["clean_flagged"]["images"],
                     "–", cell(by_tier["clean_flagged"]), "–"])
        for tier in ("large", "subset"):
            for attack, m in by_tier[tier].items():
                auc = f"{m['auc']:.3f} [{m['auc_ci'][0]:.3f}, {m['auc_ci'][1]:.3f}]" if "auc" in m else "–"
                rows.append([DEFENCE_NAMES.get(defence, defence), ADAPTIVE_COLUMNS.get(attack, attack),
                             m["robust_or_detected"]["images"], auc,
                             cell(m["detected"]) if "detected" in m else "–", cell(m["robust_or_detected"])])
    return markdown_table(["Defence", "Attack", "Images", "AUC [95 % bootstrap interval]",
                           f"flagged % at {100 * detection['false_positive_rate']:g} % calibrated FPR",
                           "robust or detected %"], rows)


def detection_verdict(detection: dict) -> str | None:
    """One line on the detector under the detector-aware attack, from the numbers: its detection rate and
    robust-or-detected accuracy there against the same row's plain BPDA+EOT, or None if no row met it."""
    for defence, by_tier in detection["rows"].items():
        aware = by_tier["subset"].get("detector_aware_bpda_eot_pgd")
        plain = by_tier["subset"].get("bpda_eot_pgd")
        if aware is None or plain is None:
            continue
        fpr = 100 * detection["false_positive_rate"]
        order = _interval_order(plain["robust_or_detected"], aware["robust_or_detected"])
        finding = {1: "the aware attack evades it measurably", -1: "the aware attack does measurably worse",
                   0: "the intervals overlap"}[order]
        return (f"- **Detection (paper Sec. 4.4).** {DEFENCE_NAMES.get(defence, defence)}'s reconstruction error, "
                f"thresholded at {fpr:g} % false positives on {detection['calibration_images']} held-out clean "
                f"images ({cell(by_tier['clean_flagged'])} % of the clean test images flagged): against BPDA+EOT PGD "
                f"it flags {cell(plain['detected'])} % (AUC {plain['auc']:.3f}), robust or detected "
                f"{cell(plain['robust_or_detected'])} %; against the detector-aware BPDA+EOT PGD it flags "
                f"{cell(aware['detected'])} % (AUC {aware['auc']:.3f}), robust or detected "
                f"{cell(aware['robust_or_detected'])} % ({aware['detected']['images']} images; {finding}).")
    return None


def adaptive_markdown(tier: dict, draws: int) -> str:
    """Per row (defence, or robustly trained classifier): accuracy under each attack of the tier ("n/a"
    where the attack does not apply), and robust accuracy (worst case per image over the attacks) under
    the first draw, every draw and most draws of the defence's randomness."""
    rows = tier["defences"]
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    names = ADAPTIVE_COLUMNS | {"robust_all_worst_of_draws": f"robust, every one of {draws} draws",
                                "robust_all_majority_of_draws": f"robust, majority of {draws} draws"}
    return markdown_table(["Defence"] + [names.get(c, c) for c in columns],
                          [[DEFENCE_NAMES.get(d, d)] + [cell(row[c]) if c in row else "n/a" for c in columns]
                           for d, row in rows.items()])


def cost_markdown(seconds: dict[str, dict[str, float]]) -> str:
    """The adaptive stage's cost: seconds per image of each attack and of the scoring, per row."""
    columns = list(dict.fromkeys(c for row in seconds.values() for c in row))
    return "Cost of this evaluation, seconds per image (surrogates per classifier, shared by its defences):\n\n" + \
        markdown_table(["Row"] + [ADAPTIVE_COLUMNS.get(c, c) for c in columns],
                       [[DEFENCE_NAMES.get(r, r)] + [f"{row[c]:.3f}" if c in row else "–" for c in columns]
                        for r, row in seconds.items()])


def _p(p_value: float, equals: str = "") -> str:
    """A p-value as stored (rounded to 4 decimals): one that rounded to 0 reads "< 0.0001"."""
    return "< 0.0001" if p_value == 0 else f"{equals}{p_value:.3g}"


def _detectable(test: dict) -> str:
    difference = test.get("detectable_difference")
    return "none at this size" if difference is None else f"{difference:.1f} points"


def paired_markdown(adaptive: dict) -> str:
    """Exact McNemar tests of robust accuracy between DiffDefense and each other row, on the same images,
    for each tier and each way of scoring the defence's randomness, with the detectable difference."""
    rules = {"one": "one draw", "worst": "every draw", "majority": "majority of draws"}
    rows = []
    for tier in ("large", "subset"):
        for pair, by_rule in adaptive[tier].get("paired_robust_all", {}).items():
            first, second = (DEFENCE_NAMES.get(d, d) for d in pair.split("_vs_"))
            for rule, test in by_rule.items():
                verdict = "differ (p < 0.05)" if test["p_value"] < 0.05 else "no significant difference"
                rows.append([f"{first} vs {second}", rules.get(rule, rule), test["images"], test["only_first"],
                             test["only_second"], _p(test["p_value"]), verdict, _detectable(test)])
    return markdown_table(["Defences", "Scoring", "Images", "Robust only with the first", "Robust only with the second",
                           "McNemar p", "Finding", "Detectable difference (80 % power)"], rows)


def tiers_paired_markdown(subset: dict) -> str:
    """Per row, on the subset's images: robust to the surrogate attacks against robust to the attacks through
    the defence (each image under every draw), by an exact McNemar test with its detectable difference."""
    rows = []
    for d, by_rule in subset.get("surrogates_vs_through", {}).items():
        test = by_rule["worst"]
        finding = ("no significant difference" if test["p_value"] >= 0.05 else
                   "the surrogates are weaker" if _surrogates_weaker(test) else "the surrogates are stronger")
        rows.append([DEFENCE_NAMES.get(d, d), test["images"], test["only_first"], test["only_second"],
                     _p(test["p_value"]), finding, _detectable(test)])
    return markdown_table(["Row", "Images", "Robust to the surrogates only", "Robust through the defence only",
                           "McNemar p", "Finding", "Detectable difference (80 % power)"], rows)


def _surrogates_weaker(test: dict) -> bool:
    """Whether a surrogates-against-through McNemar test finds the surrogate tier measurably weaker."""
    return test["p_value"] < 0.05 and test["only_first"] > test["only_second"]


def _images(count: int) -> str:
    return f"{count} image{'s' * (count != 1)}"


def surrogates_strength_line(adaptive: dict) -> str | None:
    """The verdict's "are the surrogates strong enough?" line: from the paired test of each row's two tiers
    on the subset where it has one, else from the intervals of the strongest attack of each tier."""
    subset = adaptive["subset"]
    if subset.get("surrogates_vs_through"):
        parts = []
        for d, by_rule in subset["surrogates_vs_through"].items():
            test = by_rule["worst"]
            if test["only_first"] + test["only_second"] == 0:
                continue
            parts.append(f"{DEFENCE_NAMES.get(d, d)}: {_images(test['only_first'])} left standing by the surrogates "
                         f"but fooled through the defence, {test['only_second']} the reverse (McNemar p "
                         f"{_p(test['p_value'], '= ')})")
        weaker = [d for d, r in subset["surrogates_vs_through"].items() if _surrogates_weaker(r["worst"])]
        close = ("The surrogate tier is measurably weaker than the attacks through the defence for "
                 + ", ".join(DEFENCE_NAMES.get(d, d) for d in weaker)
                 + ": for those rows the large set's robust accuracy is an upper bound and the subset's is the one "
                 "to trust." if weaker else
                 "For no row is the surrogate tier measurably weaker than the attacks through the defence.")
        return (f"- **Are the surrogates strong enough?** On the {subset['images']} subset images, every draw: "
                + ("; ".join(parts) if parts else "both tiers fool the same images on every row") + f". {close}")
    words = {1: "weaker", -1: "stronger", 0: "within the intervals"}
    compared = []
    for d, row in subset["defences"].items():
        through = [row[a] for a in THROUGH_ATTACKS if a in row]
        surrogates = [row[a] for a in adaptive["surrogate"] if a in row]
        if through and surrogates:
            best_surrogate, best_through = (min(c, key=lambda x: x["accuracy"]) for c in (surrogates, through))
            compared.append(f"{DEFENCE_NAMES.get(d, d)} {cell(best_surrogate)} against {cell(best_through)} "
                            f"({words[_interval_order(best_surrogate, best_through)]})")
    if not compared:
        return None
    return (f"- **Are the surrogates strong enough?** On the {subset['images']} subset images, accuracy under the "
            "strongest surrogate against the strongest attack through the defence (lower is a stronger attack): "
            + "; ".join(compared) + ". Where the surrogate is weaker, the large set's robust accuracy is an upper "
            "bound and the subset's is the one to trust.")


def verdict_table(adaptive: dict) -> str:
    """One row per defence: clean and robust accuracy on the large set (surrogate attacks) and robust
    accuracy on the subset (every attack, through the defence too), worst case over the draws."""
    large, subset, draws = adaptive["large"], adaptive["subset"], adaptive["evaluation_draws"]
    return markdown_table(
        ["Defence (classifier A behind it)", f"clean, {large['images']} images",
         f"robust to surrogates, {large['images']} images, one draw",
         f"robust to surrogates, {large['images']} images, every one of {draws} draws",
         f"robust to every attack, {subset['images']} images, every draw"],
        [[DEFENCE_NAMES.get(d, d), cell(row["clean"]), cell(row["robust_all"]),
          cell(row["robust_all_worst_of_draws"]), cell(subset["defences"][d]["robust_all_worst_of_draws"])]
         for d, row in large["defences"].items()])


def _against(adaptive: dict, other: str) -> str:
    """DiffDefense against row `other` on the large set, worst case over draws, from its McNemar test."""
    test = adaptive["large"].get("paired_robust_all", {}).get(f"diffdefense_vs_{other}", {}).get("worst")
    name = DEFENCE_NAMES.get(other, other)
    if test is None:
        return f"was not tested against {name}"
    if test["p_value"] >= 0.05:
        return f"does not differ measurably from {name} (McNemar p = {_p(test['p_value'])})"
    if test["only_first"] > test["only_second"]:
        return f"is measurably more robust than {name} (McNemar p {_p(test['p_value'], '= ')})"
    return f"is measurably less robust than {name} (McNemar p {_p(test['p_value'], '= ')})"


def surrogate_eps(adaptive: dict) -> float:
    """The L-inf radius of a run's surrogate attacks (its first surrogate's)."""
    return adaptive["surrogate"][next(iter(adaptive["surrogate"]))]["eps"]


def dataset_verdict(dataset: str, adaptive: dict) -> str:
    """What DiffDefense does on one dataset under adaptive attack, in one sentence drawn from its numbers."""
    rows, draws = adaptive["large"]["defences"], adaptive["evaluation_draws"]
    eps = surrogate_eps(adaptive)
    others = [d for d in ("binarize", "A_pgd") if d in rows]
    return (f"**{dataset}** (L∞ ε {eps:g}, {adaptive['large']['images']} images, worst of {draws} draws): "
            f"DiffDefense keeps {cell(rows['diffdefense']['robust_all_worst_of_draws'])} % under the surrogate "
            f"attacks (clean {cell(rows['diffdefense']['clean'])} %), "
            + ", ".join(f"{DEFENCE_NAMES.get(d, d)} {cell(rows[d]['robust_all_worst_of_draws'])} % "
                        f"(clean {cell(rows[d]['clean'])} %)" for d in others)
            + "; DiffDefense " + " and ".join(_against(adaptive, d) for d in others) + ".")


def generators_markdown(runs: dict[str, tuple[dict, dict]]) -> str:
    """How close each dataset's generative models are to its data, per dataset (table3.json and the DDPM's
    training summary): the DDPM's epochs and held-out epsilon-MSE, and the share of samples of the DDPM and
    of Defense-GAN's generator, and of clean test images, that classifier A gives probability >= 0.9."""
    rows = []
    for dataset, (table3, ddpm) in runs.items():
        samples, generator = table3.get("ddpm", {}), table3.get("generator", {})
        rows.append([dataset, ddpm["step"],
                     f"{ddpm['held_out_eps_mse']:.4f}" if "held_out_eps_mse" in ddpm else "–",
                     cell(samples["samples_confident"]) if samples else "–",
                     cell(generator["samples_confident"]) if "samples_confident" in generator else "–",
                     cell(generator["clean_confident"]) if "clean_confident" in generator else "–"])
    return markdown_table(["Dataset", "DDPM epochs", "held-out ε-MSE", "A confident on DDPM samples, %",
                           "on Defense-GAN samples, %", "on clean test images, %"], rows)


def other_dataset_runs(results: Path, dataset: str) -> dict[str, Path]:
    """The metrics folder of each committed run under `results` on a dataset other than `dataset`, keyed by
    that dataset (its table1.json's; the first folder in name order where several share one); runs
    without a Table 1 are left out."""
    runs = {}
    for path in sorted(Path(results).glob("*/metrics/table1.json")):
        runs.setdefault(json.loads(path.read_text())["dataset"], path.parent)
    runs.pop(dataset, None)
    return runs


def current_verdict(metrics: Path) -> dict | None:
    """A committed run's adaptive.json (in its `metrics` folder) if it has what the verdict tables read."""
    path = Path(metrics) / "adaptive.json"
    adaptive = json.loads(path.read_text()) if path.exists() else None
    return adaptive if adaptive is not None and has_current_verdict(adaptive) else None


def has_current_verdict(adaptive: dict) -> bool:
    """Whether an adaptive.json (of a committed run) has what the verdict tables read: both tiers, scored
    under several draws, and the surrogates' settings."""
    return ({"large", "subset", "surrogate", "evaluation_draws"} <= set(adaptive)
            and all("robust_all_worst_of_draws" in row for row in adaptive["large"]["defences"].values()))


def datasets_verdict_markdown(adaptives: dict[str, dict]) -> str:
    """The adaptive verdict of several datasets' runs side by side: per dataset and row, clean accuracy and
    robust accuracy under the surrogates (one draw, every draw) and on the subset (every attack), then one
    sentence per dataset and its detection line."""
    rows = []
    for dataset, adaptive in adaptives.items():
        large, subset = adaptive["large"], adaptive["subset"]
        eps = surrogate_eps(adaptive)
        for d, row in large["defences"].items():
            rows.append([dataset, f"{eps:g}", DEFENCE_NAMES.get(d, d), cell(row["clean"]), cell(row["robust_all"]),
                         cell(row["robust_all_worst_of_draws"]),
                         f"{cell(subset['defences'][d]['robust_all_worst_of_draws'])} ({subset['images']})"])
    lines = [markdown_table(["Dataset", "ε", "Row", "clean", "surrogates, one draw", "surrogates, every draw",
                             "every attack, subset, every draw (images)"], rows), ""]
    for dataset, adaptive in adaptives.items():
        if "diffdefense" in adaptive["large"]["defences"]:
            lines.append(f"- {dataset_verdict(dataset, adaptive)}")
        detection = detection_verdict(adaptive["detection"]) if "detection" in adaptive else None
        if detection:
            lines.append("  " + detection.removeprefix("- "))
    return "\n".join(lines)


def ddpm_length_markdown(scores: dict, adaptive: dict | None = None) -> str:
    """DiffDefense with DDPM checkpoints of increasing training length (ddpm_length_run's scores.json):
    per checkpoint its held-out epsilon-MSE, clean and robust accuracy, and the paired test against the
    default length, then whether robust accuracy moved, from those tests alone, and (given the verdict's
    adaptive evaluation) whether the verdict's order holds at every checkpoint."""
    reference, rows = scores["default_epochs"], []
    for epoch, row in scores["checkpoints"].items():
        test = row["vs_default_length"]["worst"]
        mse = "–" if row["held_out_eps_mse"] is None else f"{row['held_out_eps_mse']:.4f}"
        same = int(epoch) == reference
        rows.append([epoch, mse, cell(row["first_draw"]["clean"]), cell(row["robust_one_draw"]),
                     cell(row["robust_worst_of_draws"]), "–" if same else f"{test['only_first']} / {test['only_second']}",
                     "–" if same else _p(test["p_value"])])
    table = markdown_table(["DDPM epochs", "held-out ε-MSE", "clean", "robust, one draw", "robust, every draw",
                            f"robust only with it / only with {reference} epochs (every draw)", "McNemar p"], rows)
    return table + "\n\n" + ddpm_length_finding(scores, adaptive)


def ddpm_length_finding(scores: dict, adaptive: dict | None = None) -> str:
    """Whether robust accuracy (every draw) moved with the DDPM's training length, from the paired tests;
    and, given the verdict's adaptive evaluation on the same number of images, ddpm_length_verdict."""
    reference = scores["default_epochs"]
    others = {e: r["vs_default_length"]["worst"] for e, r in scores["checkpoints"].items() if int(e) != reference}
    moved = [f"{e} epochs ({'higher' if t['only_first'] > t['only_second'] else 'lower'}, p {_p(t['p_value'], '= ')})"
             for e, t in others.items() if t["p_value"] < 0.05]
    if moved:
        finding = f"Robust accuracy under every draw differs from the {reference}-epoch DDPM's at " + ", ".join(moved) + "."
    else:
        finding = (f"No checkpoint's robust accuracy under every draw differs from the {reference}-epoch DDPM's "
                   f"(McNemar p ≥ 0.05 each; the smallest differences these tests would detect: "
                   f"{', '.join(_detectable(t) for t in others.values())}).")
    verdict = ddpm_length_verdict(scores, adaptive) if adaptive else ""
    return finding + (f" {verdict}" if verdict else "")


def ddpm_length_verdict(scores: dict, adaptive: dict) -> str:
    """Does the verdict change with the DDPM's training length? Each of the verdict's other rows
    (verdict_other_rows) against DiffDefense at every checkpoint: above or below every checkpoint's
    interval, or overlapping some."""
    rows = verdict_other_rows(adaptive, scores["images"])
    checkpoints = {e: row["robust_worst_of_draws"] for e, row in scores["checkpoints"].items()}
    parts, overlapping = [], []
    for name, robust in rows.items():
        orders = {e: _interval_order(robust, c) for e, c in checkpoints.items()}
        overlaps = [e for e, order in orders.items() if order == 0]
        overlapping += overlaps
        where = ("above every checkpoint" if set(orders.values()) == {1}
                 else "below every checkpoint" if set(orders.values()) == {-1}
                 else f"within the intervals at {', '.join(overlaps)} epochs" if overlaps else "on both sides")
        parts.append(f"{DEFENCE_NAMES.get(name, name)} {cell(robust)} is {where}")
    if not parts:
        return ""
    return (f"Against the verdict's other rows on the same {scores['images']} images (every draw): "
            + "; ".join(parts) + (". So the verdict's order does not change with the DDPM's training length "
                                  "(intervals apart at every checkpoint)." if not overlapping else
                                  ". So the verdict's order is not settled at every checkpoint."))


def verdict_other_rows(adaptive: dict, images: int) -> dict[str, dict]:
    """{row: robust accuracy under every draw} of the adaptive evaluation's surrogate tier for every row but
    the undefended one and DiffDefense, where that tier scored `images` images ({} otherwise): what a
    DiffDefense variant on the same images is set against."""
    large = adaptive["large"]
    if large["images"] != images:
        return {}
    return {name: row["robust_all_worst_of_draws"] for name, row in large["defences"].items()
            if name not in ("none", "diffdefense")}


def _interval_order(first: dict, second: dict) -> int:
    """1 if first's interval lies wholly above second's, -1 if wholly below, 0 if they overlap."""
    if first["ci_low"] > second["ci_high"]:
        return 1
    return -1 if first["ci_high"] < second["ci_low"] else 0


VARIANT_NAMES = {"unet_zeroed": "with the U-Net's noise prediction zeroed",
                 "clamp_output": "with the output clamped instead of passed through a sigmoid",
                 "trained_schedule": "on the trained schedule sub-sampled to T* steps (the noise levels the U-Net "
                                     "was trained for)",
                 "paper_variant": "as the paper writes it (ancestral steps, gradient through the U-Net)"}


def variants_markdown(variants: dict) -> str:
    """DiffDefense as configured and each variant on the verdict's images (scripts/variants_on_verdict.py):
    accuracy clean and under each surrogate (first draw), robust under every draw, the exact McNemar test
    against the configured defence, and the share of output pixels saturated on the first 100 images."""
    surrogates = variants["surrogates"]
    rows = []
    for name, row in variants["variants"].items():
        test = row.get("vs_default", {}).get("worst")
        rows.append([VARIANT_NAMES.get(name, "as configured" if name == "default" else name)]
                    + [cell(row["first_draw"][s]) for s in ["clean"] + surrogates]
                    + [cell(row["robust_worst_of_draws"]),
                       "–" if test is None else f"{test['only_first']} / {test['only_second']}, p {_p(test['p_value'])}",
                       ", ".join(f"{100 * row['saturated_first_100'][s]:.1f}" for s in ["clean"] + surrogates)])
    return markdown_table(["DiffDefense", "clean"] + [f"{ADAPTIVE_COLUMNS.get(s, s)}, one draw" for s in surrogates]
                          + [f"robust, every one of {variants['evaluation_draws']} draws",
                             "vs as configured (every draw): only it / only configured, McNemar p",
                             "% pixels saturated (" + ", ".join(["clean"] + surrogates) + ")"], rows)


def _variants_line(variants: dict) -> str:
    """The verdict's "where the robustness comes from" line from the variants on the verdict's images."""
    rows, draws = variants["variants"], variants["evaluation_draws"]
    default = rows["default"]

    def compared(row):
        test = row["vs_default"]["worst"]
        if test["p_value"] >= 0.05:
            return f"no measurable difference, McNemar p = {_p(test['p_value'])}"
        return f"{'more' if test['only_first'] > test['only_second'] else 'less'} robust, McNemar p {_p(test['p_value'], '= ')}"

    def saturated(row):
        return f"{100 * row['saturated_first_100']['clean']:.1f} % of pixels saturated on clean images"

    parts = [f"{VARIANT_NAMES.get(name, name)} {cell(row['robust_worst_of_draws'])} ({compared(row)}; {saturated(row)})"
             for name, row in rows.items() if name != "default"]
    return (f"- **Where DiffDefense's robustness comes from** (the verdict's {variants['images']} images, the "
            f"surrogate attacks, robust under every one of {draws} draws): as configured "
            f"{cell(default['robust_worst_of_draws'])} ({saturated(default)}); " + "; ".join(parts) + ".")


def variants_on_verdict_run(results: Path, params: dict) -> tuple[Path, dict] | None:
    """The committed scoring of DiffDefense's variants on this setting's verdict images
    (scripts/variants_on_verdict.py), if any: (its folder, its variants.json), the one with the most images
    among the folders of the same setting (_same_setting)."""
    found = [(path.parent, json.loads(path.read_text())) for path in sorted(Path(results).glob("*/variants.json"))
             if _same_setting(path.parent, params) is not None]
    return max(found, key=lambda run: run[1]["images"], default=None)


def verdict_markdown(table2: dict, adaptive: dict, seconds_per_image: float | None,
                     ablation: dict | None = None, variants: dict | None = None) -> str:
    """Which defence to pick under which threat model, generated from Table 2, the adaptive evaluation and
    its paired tests: only intervals that do not overlap, or McNemar p < 0.05, count as differences.
    `variants`: DiffDefense's variants scored on the verdict's images (variants_on_verdict_run), which
    replace the ablation's as the answer to where the robustness comes from."""
    cost = f"{seconds_per_image:.2f} s per image here" if seconds_per_image is not None else "its reconstruction cost"
    lines = []
    for column, name in ROBUST_TRAINING_NAMES.items():
        grey = [_interval_order(row["with_defence"], row[column]) for row in table2.values() if row.get(column)]
        if grey:
            lines.append(f"- **Grey-box (the paper's threat model: attacks crafted on the bare classifier).** "
                         f"Against {len(grey)} attacks, DiffDefense in front of A is above {name} (attacked "
                         f"itself) on {grey.count(1)}, below on {grey.count(-1)}, and within the intervals on "
                         f"{grey.count(0)} (Table 2), at {cost} against none for the trained model.")
    large, subset = adaptive["large"], adaptive["subset"]
    for tier, what in ((large, "surrogate attacks, no defence call"), (subset, "every attack, through the defence too")):
        robust = tier["defences"]
        ranked = sorted(robust, key=lambda d: -robust[d]["robust_all_worst_of_draws"]["accuracy"])
        lines.append(f"- **Adaptive white-box, {tier['images']} images ({what}).** Robust accuracy, worst case over "
                     f"{adaptive['evaluation_draws']} draws: " + ", ".join(
                         f"{DEFENCE_NAMES.get(d, d)} {cell(robust[d]['robust_all_worst_of_draws'])}" for d in ranked)
                     + "; one draw: " + ", ".join(f"{DEFENCE_NAMES.get(d, d)} {cell(robust[d]['robust_all'])}"
                                                 for d in ranked) + ".")
    for pair, by_rule in large.get("paired_robust_all", {}).items():
        first, second = (DEFENCE_NAMES.get(d, d) for d in pair.split("_vs_"))
        test = by_rule["worst"]
        if test["p_value"] >= 0.05:
            finding = (f"no significant difference (McNemar p = {_p(test['p_value'])}; {test['only_first']} images "
                       f"robust only with {first}, {test['only_second']} only with {second}; detectable difference "
                       f"{_detectable(test)})")
        else:
            better = first if test["only_first"] > test["only_second"] else second
            finding = f"{better} is more robust (McNemar p {_p(test['p_value'], '= ')})"
        others = "; ".join(f"{rule}: {t['only_first']} against {t['only_second']} images, p {_p(t['p_value'], '= ')}"
                           for rule, t in (("one draw", by_rule.get("one")), ("majority of draws", by_rule.get("majority")))
                           if t is not None)
        lines.append(f"- {first} against {second}, worst case over draws, {test['images']} images: {finding}"
                     + (f" (robust only with {first} against only with {second}, {others})" if others else "") + ".")
    if strength := surrogates_strength_line(adaptive):
        lines.append(strength)
    binarize = large.get("paired_robust_all", {}).get("diffdefense_vs_binarize", {}).get("worst")
    if binarize is not None:
        if binarize["p_value"] >= 0.05:
            pick = (f"On this evidence ({binarize['images']} images) a user facing an adaptive attacker gains nothing "
                    "measurable from DiffDefense over thresholding pixels at 0.5, which costs nothing; a difference "
                    f"of {_detectable(binarize)} would have been found.")
        elif binarize["only_first"] > binarize["only_second"]:
            pick = f"DiffDefense is measurably more robust than binarisation under adaptive attack, at {cost}."
        else:
            pick = "Binarisation is measurably more robust than DiffDefense under adaptive attack, and free."
        lines.append(f"- **Pick.** {pick}")
    if variants is not None and len(variants["variants"]) > 1:
        lines.append(_variants_line(variants))
    elif (ablated := (ablation or {}).get("accuracy", {}).get("variant")):
        words = {1: "above", -1: "below", 0: "within the intervals of"}

        def configured(set_name):  # the defence as configured: a point of any sweep run at its own setting
            return next((ablation["accuracy"][k][set_name][str(v)] for k, v in ablation["base"].items()
                         if str(v) in ablation["accuracy"].get(k, {}).get(set_name, {})), None)

        def versus(result, base):
            return "" if base is None else f" ({words[_interval_order(result, base)]} {cell(base)})"

        def saturated(result):
            return f", {100 * result['saturated']:.0f} % of pixels saturated" if "saturated" in result else ""

        parts = []
        for name in next(iter(ablated.values())):
            per_set = [f"{s} {cell(by_name[name])}{versus(by_name[name], configured(s))}{saturated(by_name[name])}"
                       for s, by_name in ablated.items()]
            parts.append(f"{VARIANT_NAMES.get(name, name)}: " + ", ".join(per_set))
        as_configured = [f"{s} {100 * configured(s)['saturated']:.0f} %" for s in ablated
                         if configured(s) and "saturated" in configured(s)]
        lines.append(f"- **Where DiffDefense's robustness comes from** (ablation, {ablation['images_per_set']} "
                     "images per set; in brackets the defence as configured): " + "; ".join(parts) + "."
                     + (" Pixels saturated (below 0.01 or above 0.99) as configured: " + ", ".join(as_configured)
                        + "." if as_configured else ""))
    robust = subset["defences"]
    if any("robust_all_fixed_seed" in row for row in robust.values()):
        lines.append("- **Fixed seed or fresh randomness.** With its seed fixed a randomised defence is "
                     "deterministic and the attacker who knows the seed needs no EOT: robust accuracy "
                     + ", ".join(f"{DEFENCE_NAMES.get(d, d)} {cell(row['robust_all_fixed_seed'])}"
                                 for d, row in robust.items() if "robust_all_fixed_seed" in row)
                     + ". A deployment that fixes its seed faces that number; one that draws afresh per query "
                     "faces the one-draw number from an attacker who queries once, and the every-draw number "
                     "from one who may retry.")
    return "\n".join(lines)


def _leaves(params: dict, prefix: str = "") -> dict:
    """Nested params flattened to dotted keys."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def params_differences(ours: dict, theirs: dict) -> dict[str, tuple]:
    """{dotted key: (our value, their value)} for every param that differs between two params files
    ("absent" where one has no such key)."""
    a, b = _leaves(ours), _leaves(theirs)
    return {key: (a.get(key, "absent"), b.get(key, "absent"))
            for key in sorted(a.keys() | b.keys()) if a.get(key, "absent") != b.get(key, "absent")}


def ddpm_length_run(results: Path, params: dict) -> tuple[Path, dict] | None:
    """The committed scoring of DDPM checkpoints of increasing training length on this setting's verdict
    images (scripts/ddpm_scale_score.py: a <folder>/scores.json with a params.yaml of the same setting,
    _same_setting), if any: (its folder, its scores), the one with the most checkpoints, then images."""
    found = [(path.parent, scores) for path in sorted(Path(results).glob("*/scores.json"))
             if "checkpoints" in (scores := json.loads(path.read_text())) and (path.parent / "params.yaml").exists()
             and _same_setting(path.parent, params) is not None]
    return max(found, key=lambda run: (len(run[1]["checkpoints"]), run[1]["images"]), default=None)


def _same_setting(folder: Path, params: dict, key: str | None = None) -> dict[str, tuple] | None:
    """The params differences between `params` and a committed run's `folder`/params.yaml if that run is of
    the same setting: differing only in `key` and in params added after it ran (absent there: that run took
    the library's default, so ours must be at its declared default); None otherwise."""
    differences = params_differences(params, yaml.safe_load((folder / "params.yaml").read_text()))
    same = all(k == key or (theirs == "absent" and ours == declared_default(PARAMS, k))
               for k, (ours, theirs) in differences.items())
    return differences if same else None


def _larger_committed_run(results: Path, params: dict, key: str, tier: str) -> tuple[Path, dict, dict] | None:
    """The committed adaptive evaluation under `results` (a <folder>/metrics/adaptive.json) whose `tier` scored
    the most images, more than this run's params.yaml `key` asks for, among those of the same setting but for
    `key` (_same_setting): (its folder, its adaptive.json, its params differences from `params`)."""
    section, name = key.split(".")
    found = []
    for path in sorted(Path(results).glob("*/metrics/adaptive.json")):
        folder = path.parent.parent
        differences = _same_setting(folder, params, key)
        adaptive = json.loads(path.read_text())
        if differences is not None and adaptive[tier]["images"] > params[section][name]:
            found.append((folder, adaptive, differences))
    return max(found, key=lambda run: run[1][tier]["images"], default=None)


def larger_adaptive_run(results: Path, params: dict) -> tuple[Path, dict, dict] | None:
    """The committed adaptive evaluation of this run's setting on more surrogate-tier images, if any
    (params differing in adaptive.images alone): (its folder, its adaptive.json, its params differences)."""
    return _larger_committed_run(results, params, "adaptive.images", "large")


def larger_through_tier(results: Path, params: dict) -> tuple[Path, dict, dict] | None:
    """The committed run of this setting's attacks through the defence on more images than
    adaptive.through_images (scripts/through_tier.py), if any: (its folder, its adaptive.json, its params
    differences)."""
    return _larger_committed_run(results, params, "adaptive.through_images", "subset")


def verdict_evaluation(results: Path, params: dict, adaptive: dict) -> tuple[dict, tuple | None, tuple | None]:
    """What the verdict is drawn from: the run's adaptive.json, its large tier from the committed run on
    more images (larger_adaptive_run) and its subset tier from the committed through-the-defence run on more
    images (larger_through_tier) where those exist; and those two runs (or None)."""
    larger, through = larger_adaptive_run(results, params), larger_through_tier(results, params)
    verdict = dict(larger[1] if larger else adaptive)
    if through:
        verdict["subset"] = through[1]["subset"]
        # the detector on the through attacks too, where that run's threshold is this one's (same calibration)
        if "detection" in verdict and "detection" in through[1]:
            rows = {d: row | {"subset": through[1]["detection"]["rows"][d]["subset"]}
                    if row["threshold"] == through[1]["detection"]["rows"].get(d, {}).get("threshold") else row
                    for d, row in verdict["detection"]["rows"].items()}
            verdict["detection"] = verdict["detection"] | {"rows": rows}
    return verdict, larger, through


def boundary_markdown(boundary: dict, threshold: float = 5.0) -> tuple[str, list[str]]:
    """Per set: images on the fed classifier's decision boundary and images whose score changed since
    crafting; also the names of the boundary-fragile sets (more than `threshold` % on the boundary)."""
    rows, fragile = [], []
    for name, b in boundary.items():
        share = 100.0 * b["on_boundary"] / b["images"]
        if share > threshold:
            fragile.append(name)
        rows.append([name, b["images"], f"{b['on_boundary']} ({share:.0f} %)", f"{b['median_logit_gap']:.2g}",
                     b.get("flipped_since_crafted", "–")])
    return markdown_table(["Set", "Images", "On the boundary (logit gap < 1e-3)", "Median logit gap",
                           "Scored differently than when crafted"], rows), fragile


def key_metrics(table1: dict, table2: dict, table3: dict, detection: dict, adaptive: dict, classifiers: dict,
                ddpm: dict) -> dict:
    """The numbers users compare across experiments, for reports/summary.json (the only file DVC lists as
    metrics, so `dvc exp show` starts with them): accuracies (%) and AUCs, no timings or counts."""
    accuracy = table1["accuracy"]
    defended = {"clean": accuracy["clean"]} | {f"{attack}-{box}": by_defence for attack, by_box in accuracy.items()
                                               if attack != "clean" for box, by_defence in by_box.items()}
    return {
        "classifier_test_accuracy": {name: m["test"]["accuracy"] for name, m in classifiers.items()},
        "ddpm_eps_mse": round(ddpm["train_loss"], 5),
        "table1": {name: {defence: cell["accuracy"] for defence, cell in by_defence.items()}
                   for name, by_defence in defended.items()},
        **{column: {attack: row[column]["accuracy"] for attack, row in table2.items() if row.get(column)}
           for column in ROBUST_TRAINING_NAMES if any(row.get(column) for row in table2.values())},
        "auc": {defence: {name: round(d["auc"], 4) for name, d in by_set.items()}
                for defence, by_set in detection.items()},
        "table3": {name: row["accuracy"] for name, row in table3["rows"].items()},
        **{f"adaptive_robust_all_{tier}": {
            defence: {rule: by[key]["accuracy"] for rule, key in
                      (("one_draw", "robust_all"), ("worst_of_draws", "robust_all_worst_of_draws"),
                       ("majority_of_draws", "robust_all_majority_of_draws")) if key in by}
            for defence, by in adaptive[tier]["defences"].items()} for tier in ("large", "subset")},
    }
