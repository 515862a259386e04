"""Rewrite the README's "## Results" section from a finished default run: its metrics (RUN/metrics), its
timestamped `dvc repro` logs (per-stage times by scripts/stage_times.py; where a stage ran in more than one,
the last log's time counts) and, for the verdict, the committed adaptive run on more images
(results/, diffdefense.report.verdict_evaluation) where there is one. From the project root, in the venv:
    python scripts/readme_results.py RUN LOG [LOG ...] [--note "what shared the CPU"]"""

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from diffdefense import report  # noqa: E402
from scripts.stage_times import stage_times  # noqa: E402


def ddpm_length_line(params: dict, verdict: dict) -> list[str]:
    """The DDPM-length check (report.ddpm_length_run) in one line, from its paired tests and against the
    verdict's rows, if it was run."""
    if (found := report.ddpm_length_run(ROOT / "results", params)) is None:
        return []
    folder, scores = found
    return [f"- **A longer-trained DDPM** ([results/{folder.name}/](results/{folder.name}/SOURCE.md), "
            f"{', '.join(scores['checkpoints'])} epochs, {scores['images']} images): "
            f"{report.ddpm_length_finding(scores, verdict)}"]


def datasets_verdicts(dataset: str, verdict: dict) -> dict[str, dict]:
    """This run's verdict on `dataset` (the larger committed run's where there is one) and each other
    dataset's committed run (results/<dataset>/) that has the current verdict's outputs, keyed by dataset."""
    others = {name: a for name, metrics in report.other_dataset_runs(ROOT / "results", dataset).items()
              if (a := report.current_verdict(metrics))}
    return {dataset: verdict} | others


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="the run's checkout (its metrics/ are read)")
    parser.add_argument("logs", type=Path, nargs="+", help="the run's timestamped dvc repro logs, in order")
    parser.add_argument("--note", default="", help="appended to the time line (what else used the CPU)")
    parser.add_argument("--machine", default="a 2-core CPU", help="the machine, e.g. lscpu's model name and flags")
    args = parser.parse_args()

    def metrics(name):
        return json.loads((args.run / "metrics" / name).read_text())

    t1, t2, t3, det, abl, ad = (metrics(f"{n}.json") for n in
                                ["table1", "table2", "table3", "detection", "ablation", "adaptive"])
    # the training stages' dvclive summaries: "step" is the last epoch
    clf = {n: metrics(f"train_classifier_{n}/metrics.json") for n in ["A", "B", "A_adv", "A_pgd"]
           if (args.run / "metrics" / f"train_classifier_{n}").exists()}
    ddpm, gan = metrics("train_ddpm/metrics.json"), metrics("train_gan/metrics.json")
    # whole seconds, as scripts/stage_times.py writes them
    sec = {stage: float(round(s)) for log in args.logs for stage, s in stage_times(log.read_text().splitlines())}

    def mins(keys):
        return f"{sum(sec.get(k, 0) for k in keys) / 60:.1f} min"

    def acc(t):
        return f"{t['accuracy']:.2f} % [{t['ci_low']:.2f}, {t['ci_high']:.2f}]"

    def timing(kind):
        return {p.stem: json.loads(p.read_text())["seconds_per_image"]
                for p in (args.run / "metrics/timing" / kind).glob("*.json")}

    dd, attack_seconds = timing("defend")["diffdefense"], timing("attack")
    attack_keys = [k for k in sec if k.startswith("attack@")]
    cells = [t1["accuracy"]["clean"]] + [cell for attack, by_box in t1["accuracy"].items() if attack != "clean"
                                         for cell in by_box.values()]  # each {defence: summary} of Table 1
    defended_images = sum(cell["diffdefense"]["images"] for cell in cells)
    params = yaml.safe_load((args.run / "params.yaml").read_text())
    verdict, larger, through = report.verdict_evaluation(ROOT / "results", params, ad)
    variants = report.variants_on_verdict_run(ROOT / "results", params)
    training = params["train_classifier"]

    def recipe(name):
        cfg, adv = training[name], training[name].get("adversarial")
        optimiser = "Adam" if cfg.get("optimizer") == "adam" else "SGD"
        text = {"onecycle": f"one-cycle {optimiser}", "cyclic": f"{optimiser} on a cyclic lr (peak {cfg['lr']})"}.get(
            cfg.get("schedule"), f"{optimiser} at lr {cfg['lr']}")
        if adv:
            steps = "" if "steps" not in adv else (f" (one step of {adv['step']} from a random start: FGSM-RS)"
                                                    if adv["steps"] == 1 else f" ({adv['steps']} steps of {adv['step']})")
            text += f", {adv['attack'].upper()} ε {adv['eps']}{steps} adversarial training"
        return text

    target = {"A": " (target ≥ 99.0)", "B": " (target ≥ 98.5)", "A_adv": " (clean; target ≥ 97)",
              "A_pgd": " (clean)"}
    rows = [("check_params, download, testset", mins(["check_params", "download", "testset"]), "local mirror")]
    rows += [(f"train_classifier@{n}", mins([f"train_classifier@{n}"]),
              f"{c['step']} epoch{'s' * (c['step'] != 1)}, {recipe(n)}: {acc(c['test'])} "
              f"on the 10 000 test images{target[n]}")
             for n, c in clf.items()]
    rows += [
        ("train_ddpm", mins(["train_ddpm"]), f"{ddpm['step']} epochs: final ε-MSE {ddpm['train_loss']:.4f}"
         + (f", held out {ddpm['held_out_eps_mse']:.4f}" if "held_out_eps_mse" in ddpm else "")),
        ("train_gan", mins(["train_gan"]), f"{gan['step']} epochs"),
        (f"attack@* ({len(attack_keys)} sets)", mins(attack_keys),
         f"{min(attack_seconds.values()):.3f} to {max(attack_seconds.values()):.2f} s/image"),
        ("defend@diffdefense", mins(["defend@diffdefense"]),
         f"{defended_images} images, {min(dd.values()):.2f}–{max(dd.values()):.2f} s/image at L 4, R 5, T* 15"),
        ("evaluate, detect", mins(["evaluate", "detect"]), "detect: bootstrap intervals per AUC"),
        ("table3", mins(["table3"]), f"{t3['images']} images, {len(t3['rows'])} rows"),
        ("ablation", mins(["ablation"]), f"{abl['images_per_set']} images per set"),
        ("grids", mins(["grids"]), ""),
        ("adaptive", mins(["adaptive"]),
         f"{ad['large']['images']} images (surrogates) and {ad['subset']['images']} (through the defence), "
         f"{len(ad['large']['defences'])} rows, {ad['evaluation_draws']} evaluation draws"),
        ("report", mins(["report"]), ""),
    ]
    total = sum(sec.values()) / 60
    out = [
        "## Results", "",
        "From one default `dvc repro` of this code on MNIST (README main command, fresh clone, empty cache, "
        f"{args.machine}), committed: `dvc.lock`, `metrics/`, `plots/` and **[`reports/REPORT.md`](reports/REPORT.md)** "
        "(every table and figure, the detection ROC, the ablation, the image grids, the paired tests and the "
        "generated verdict). Cells read `ours [95 % Wilson interval] (paper)`; ✗ marks a paper number outside our "
        "interval; only those are differences.", "",
        "### Does DiffDefense hold against an attacker who knows it?", "",
        *[f"- {report.dataset_verdict(name, a)}" for name, a in datasets_verdicts(t1['dataset'], verdict).items()], "",
        report.verdict_table(verdict), "",
        *([f"From the same stage run on {verdict['large']['images']} images, committed under "
           f"[`{larger[0].relative_to(ROOT)}/`]({larger[0].relative_to(ROOT)}/SOURCE.md) (the default run scores "
           f"{ad['large']['images']}: its tables are in the report).", ""] if larger else []),
        *([f"The last column comes from the attacks through the defence on the first {verdict['subset']['images']} "
           f"images, committed under [`{through[0].relative_to(ROOT)}/`]({through[0].relative_to(ROOT)}/SOURCE.md) "
           f"(the default run attacks {ad['subset']['images']} that way: its tables are in the report).", ""]
          if through else []),
        "Surrogates run on each row's bare classifier with no defence call (PGD, and PGD through a relaxation of "
        "thresholding at 0.5); the subset adds BPDA+EOT PGD "
        f"({ad['attack']['steps']} steps, {ad['attack']['eot_samples']} EOT samples) and the full gradient through "
        "the defence. Generated verdict:", "",
        *[line for line in report.verdict_markdown(t2, verdict, sum(dd.values()) / len(dd), abl,
                                                   variants[1] if variants else None).splitlines()
          if any(key in line for key in ("Adaptive", "Pick", "surrogates strong", "robustness comes from"))],
        *([line] if "detection" in verdict and (line := report.detection_verdict(verdict["detection"])) else []),
        *([line] if (line := report.robust_training_autoattack_line(
            verdict, report.wider_pgd_training_check(ROOT / "results", params))) else []),
        *ddpm_length_line(params, verdict), "",
        "### Table 1 (MNIST): accuracy of A, %", "", report.table1_markdown(t1), "",
        "### Table 2: unseen attacks and robust training, %", "", report.table2_markdown(t2), "",
        *([note, ""] if (note := report.pgd_training_note(clf.get("A_pgd"), t2, training.get("A_pgd"),
                                                           params["attack"]["settings"]["pgd"]["steps"], t1["dataset"],
                                                           report.wider_pgd_training_check(ROOT / "results", params)))
          else []),
        f"### Table 3: Defense-GAN vs DiffDefense ({t3['set']} and clean, {t3['images']} images)", "",
        report.markdown_table(["Method", "L", "R", f"{t3['set']} % (paper)", "clean %", "s / image (paper, GPU)"],
                              [[report.DEFENCE_NAMES.get(r["defence"], r["defence"]), r["L"], r["R"],
                                report.cell(r, r.get("paper_accuracy")), report.cell(r.get("clean")),
                                f"{r['seconds_per_image']:.3f} ({r.get('paper_seconds_per_image', '–')})"]
                               for r in t3["rows"].values()]), "",
        "What the paper's Defense-GAN column can be compared with: [reports/REPORT.md](reports/REPORT.md#table-3-defense-gan-against-diffdefense) "
        "and [docs/defense-gan.md](docs/defense-gan.md).", "",
        f"### Time: {total:.1f} min", "",
        "Stage by stage (`scripts/stage_times.py` on the run's log)" + (f"; {args.note}" if args.note else "") + ":", "",
        "| stage | wall time | notes |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows] + [
        "",
        "Scaled down from the paper to fit a CPU: 200 test images (paper code 1000), AutoAttack and elastic net on the "
        "first 100 (A_pgd on 500 in `results/A_pgd-autoattack-500/`), short training (A_pgd: Wong et al.'s 10 epochs), "
        "the DDPM 3 epochs at batch 128 (the authors: 500 at 1024), a small "
        f"DCGAN for Defense-GAN, Table 3 on {t3['images']} images, the ablation on {abl['images_per_set']} per set, "
        f"the adaptive evaluation on {ad['large']['images']} (surrogates) and {ad['subset']['images']} (through the "
        "defence). `profiles/paper.yaml` is the authors' scale ([docs/paper-scale.md](docs/paper-scale.md)).", "",
    ]
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Results\n")
    end = readme.index("\n### FashionMNIST", start) + 1
    (ROOT / "README.md").write_text(readme[:start] + "\n".join(out) + "\n" + readme[end:])
    print(f"README Results rewritten: {total:.1f} min in all")


if __name__ == "__main__":
    main()
