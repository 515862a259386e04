"""The real `dvc repro` on the tiny profile, in a copy of the repository, against the local mirror."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import repro_in_copy
from scripts.compare_runs import TIMING_KEYS, untimed

REPO = Path(__file__).resolve().parents[1]


def dvc(workdir: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mirror):
    work = tmp_path_factory.mktemp("repo")
    env = repro_in_copy(work, (REPO / "profiles" / "tiny.yaml").read_text(), mirror)
    return work, env


TABLE1_ATTACKS = ("fgsm", "pgd", "deepfool")
TABLE2_ATTACKS = ("fgsm", "pgd", "deepfool", "eotpgd", "square", "autoattack", "elasticnet")


def test_table1_metrics_have_every_attack_and_valid_accuracies(tiny_run):
    work, _ = tiny_run
    table = json.loads((work / "metrics" / "table1.json").read_text())
    assert table["dataset"] == "MNIST" and table["test_images"] == 16
    accuracy = table["accuracy"]
    assert set(accuracy["clean"]) == {"no_defence", "diffdefense"}
    for attack in TABLE1_ATTACKS:
        for box in ("white", "black"):
            cell = accuracy[attack][box]
            assert set(cell) == {"no_defence", "diffdefense"}
            for summary in cell.values():  # every accuracy with its image count and interval
                assert summary["images"] == 16 and 0 <= summary["ci_low"] <= summary["accuracy"] <= summary["ci_high"] <= 100
    boundary = table["boundary"]
    tiny_sets = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())["attack"]["sets"]
    assert set(boundary) == {"clean", *tiny_sets}
    # scored on the device the attack ran on: no image changes its fooled/not-fooled status
    assert all(b["flipped_since_crafted"] == 0 for name, b in boundary.items() if "white" in name or "advtrained" in name)
    seconds = json.loads((work / "metrics" / "timing" / "defend" / "diffdefense.json").read_text())["seconds_per_image"]
    assert {"clean", "fgsm-white", "pgd-black", "elasticnet-white"} <= set(seconds)
    assert "fgsm-advtrained" not in seconds  # fed to A_adv, which is not defended
    assert all(s > 0 for s in seconds.values())
    assert (work / "plots" / "table1.csv").read_text().startswith("set,attack,box,crafted_on,evaluated_on,defence")


def test_table2_and_detection(tiny_run):
    work, _ = tiny_run
    table2 = json.loads((work / "metrics" / "table2.json").read_text())
    assert tuple(table2) == TABLE2_ATTACKS
    for attack, row in table2.items():
        assert 0 <= row["without_defence"]["accuracy"] <= 100 and 0 <= row["with_defence"]["accuracy"] <= 100
    assert 0 <= table2["fgsm"]["adversarial_training"]["accuracy"] <= 100  # the tiny profile attacks A_adv with FGSM, Square
    assert table2["pgd"]["adversarial_training"] is None
    assert table2["elasticnet"]["with_defence"]["images"] == 8 and table2["fgsm"]["with_defence"]["images"] == 16
    detection = json.loads((work / "metrics" / "detection.json").read_text())["diffdefense"]
    assert set(detection) == {"fgsm-white", "fgsm-black", "pgd-white", "pgd-black", "deepfool-white",
                              "deepfool-black", "eotpgd-white", "square-white", "autoattack-white", "elasticnet-white"}
    assert all(0 <= m["auc_ci_low"] <= m["auc"] <= m["auc_ci_high"] <= 1 and 0 <= m["tpr_at_5pct_fpr"] <= 1
               and m["clean_images"] == 16 for m in detection.values())
    roc = (work / "plots" / "roc.csv").read_text().splitlines()
    assert roc[0] == "defence,set,step,fpr,tpr" and len(roc) > 20
    assert (work / "plots" / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_repro_is_reproducible_and_metrics_show(tiny_run):
    work, env = tiny_run
    status = json.loads(dvc(work, "status", "--json", env=env).stdout)
    assert status == {}, status
    # DVC lists only the key metrics (no timings); the full tables are one target away
    shown = dvc(work, "metrics", "show", "--json", env=env).stdout
    assert [list(revision["data"]) for revision in json.loads(shown).values()] == [["reports/summary.json"]]
    assert "table1.fgsm-white.diffdefense" in dvc(work, "metrics", "show", env=env).stdout
    assert "seconds" not in shown
    assert "accuracy.fgsm.white.diffdefense" in dvc(work, "metrics", "show", "metrics/table1.json", env=env).stdout


def test_changing_L_reruns_only_what_depends_on_it(tiny_run):
    work, env = tiny_run
    params = work / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("diffdefense: {variant: code, L: 2,", "diffdefense: {variant: code, L: 3,"))
    try:
        changed = set(json.loads(dvc(work, "status", "--json", env=env).stdout))
    finally:
        params.write_text(original)
    # only the stages that run DiffDefense are invalidated; those reading their outputs follow once they change
    # check_params rereads any params change; the stages that run DiffDefense are invalidated, and those
    # reading their outputs follow once the outputs change
    assert changed == {"check_params", "defend@diffdefense", "table3", "ablation", "adaptive", "report"}


def test_table3_ablation_grids_and_report(tiny_run):
    work, _ = tiny_run
    table3 = json.loads((work / "metrics" / "table3.json").read_text())
    assert table3["set"] == "fgsm-white" and table3["images"] == 8
    assert list(table3["rows"]) == ["defencegan_L3_R2", "diffdefense_L2_R1"]
    assert all(0 <= r["accuracy"] <= 100 and r["images"] == 8 and r["seconds_per_image"] > 0
               for r in table3["rows"].values())
    t_star = (work / "plots" / "ablation_t_star.csv").read_text().splitlines()
    assert t_star[0].startswith("t_star,set,accuracy,images,ci_low,ci_high,seconds_per_image") and len(t_star) == 1 + 2 * 2
    grids = sorted(p.name for p in (work / "plots" / "grids").iterdir())
    assert "clean.png" in grids and "fgsm-white.png" in grids
    report = (work / "reports" / "REPORT.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Fig. 2", "## Fig. 3", "## Fig. 4", "## Adaptive",
                    "## Boundary-fragile sets"):
        assert heading in report
    assert "| FGSM | white-box | 16 |" in report and "| Defense-GAN | 3 | 2 |" in report
    assert "](../plots/roc.png)" in report and "](../plots/grids/fgsm-white.png)" in report
    # The committed FashionMNIST run (results/) is shown beside this MNIST run's Table 1.
    assert "## Table 1 beside the other datasets' runs (FashionMNIST)" in report
    assert "| Attack | Setting | MNIST: no defence | MNIST: DiffDefense | FashionMNIST: no defence |" in report
    # and its adaptive verdict beside this run's, ε and all
    assert "### The verdict beside the other datasets' runs (FashionMNIST)" in report
    assert "| FashionMNIST | 0.1 | DiffDefense |" in report and "| MNIST | 0.3 | DiffDefense |" in report


def test_readme_python_example_runs_on_the_pipeline_outputs(tiny_run):
    work, env = tiny_run
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Use it from Python"):]
    example = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 3)]
    result = subprocess.run([sys.executable, "-c", example], cwd=work, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DiffDefense + A: FGSM" in result.stdout and "BPDA-PGD" in result.stdout


def test_adaptive_stage_reports_every_defence(tiny_run):
    work, _ = tiny_run
    adaptive = json.loads((work / "metrics" / "adaptive.json").read_text())
    params = yaml.safe_load((work / "params.yaml").read_text())
    # its own images, more than the clean set's (data.test_size), and the subset attacked through the defence
    assert adaptive["large"]["images"] == params["adaptive"]["images"] > params["data"]["test_size"]
    assert adaptive["subset"]["images"] == params["adaptive"]["through_images"]
    surrogates = set(params["adaptive"]["surrogate"])
    randomised = {"diffpure", "diffdefense"}
    for tier in ("large", "subset"):
        # the four defences in front of A, then the robustly trained classifier attacked on its own
        assert list(adaptive[tier]["defences"]) == ["none", "binarize", "diffpure", "diffdefense", "A_pgd"]
    for name, row in adaptive["large"]["defences"].items():
        assert set(row) == {"clean", "robust_all", "robust_all_worst_of_draws", "robust_all_majority_of_draws"} | surrogates
        assert row["robust_all"]["accuracy"] <= min(row[a]["accuracy"] for a in surrogates | {"clean"})
        assert all(v["images"] == adaptive["large"]["images"] for v in row.values())
    for name, row in adaptive["subset"]["defences"].items():
        # BPDA only where the defence has no useful gradient of its own; nothing to approximate without one
        through = ({"bpda_eot_pgd"} if name not in {"none", "A_pgd"} else set()) \
            | ({"full_gradient_pgd"} if name != "binarize" else set())
        fixed_seed = {f"{a}_fixed_seed" for a in through} | {"robust_all_fixed_seed"} if name in randomised else set()
        aware = {"detector_aware_bpda_eot_pgd"} if name in params["adaptive"]["detection"]["aware_rows"] else set()
        assert set(row) == {"clean", "robust_all", "robust_all_worst_of_draws", "robust_all_majority_of_draws"} \
            | surrogates | through | fixed_seed | aware
        through |= aware
        assert row["robust_all"]["accuracy"] <= min(row[a]["accuracy"] for a in surrogates | through | {"clean"})
        # every draw right implies the first draw and most draws right
        assert row["robust_all_worst_of_draws"]["accuracy"] <= min(row["robust_all"]["accuracy"],
                                                                   row["robust_all_majority_of_draws"]["accuracy"])
        assert all(v["images"] == 2 and v["ci_low"] <= v["accuracy"] <= v["ci_high"] for v in row.values())
    assert adaptive["evaluation_draws"] == 2
    for tier in ("large", "subset"):
        paired = adaptive[tier]["paired_robust_all"]
        assert set(paired) == {"diffdefense_vs_none", "diffdefense_vs_binarize", "diffdefense_vs_diffpure",
                               "diffdefense_vs_A_pgd"}
        images = adaptive[tier]["images"]
        for by_rule in paired.values():
            assert set(by_rule) == {"one", "worst", "majority"}
            assert all(t["both"] + t["only_first"] + t["only_second"] <= t["images"] == images and 0 <= t["p_value"] <= 1
                       for t in by_rule.values())
    detection = adaptive["detection"]
    assert detection["calibration_images"] == params["adaptive"]["detection"]["calibration_images"]
    assert set(detection["rows"]) == {"binarize", "diffpure", "diffdefense"}  # every row whose defence reconstructs
    for name, row in detection["rows"].items():
        assert set(row["large"]) == surrogates | {"every_attack"}
        for tier, count in (("large", adaptive["large"]["images"]), ("subset", 2)):
            for attack, m in row[tier].items():
                assert m["robust_or_detected"]["images"] == count
                if attack != "every_attack":
                    assert 0 <= m["auc"] <= 1 and m["auc_ci"][0] <= m["auc_ci"][1]
                    # right or flagged: at least as many images as right alone
                    assert m["robust_or_detected"]["accuracy"] >= adaptive[tier]["defences"][name][attack]["accuracy"]
    assert "detector_aware_bpda_eot_pgd" in detection["rows"]["diffdefense"]["subset"]
    assert "## Verdict" in (work / "reports" / "REPORT.md").read_text()
    timing = json.loads((work / "metrics" / "timing" / "adaptive.json").read_text())["seconds_per_image"]
    assert set(timing) == {"A", "A_pgd", "none", "binarize", "diffpure", "diffdefense"}
    assert set(timing["A"]) == surrogates and all(s >= 0 for row in timing.values() for s in row.values())


def test_saved_surrogates_score_every_variant_on_the_verdicts_images(tiny_run, tmp_path):
    """The adaptive stage's surrogate adversarials are saved, so a variant (or another DDPM) is scored on the
    verdict's own images without attacking again: the default row reproduces the stage's own scores."""
    work, env = tiny_run
    params = yaml.safe_load((work / "params.yaml").read_text())
    saved = subprocess.run([sys.executable, "-c", "from diffdefense.io import load_tensors; import json; t, m = "
                            "load_tensors('data/adaptive/surrogates.safetensors'); "
                            "print(json.dumps({k: list(v.shape) for k, v in t.items()}))"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    shapes = json.loads(saved.stdout)
    n = params["adaptive"]["images"]
    assert shapes["labels"] == [n] and shapes["clean"] == [n, 1, 28, 28]
    classifiers = ["A"] + params["adaptive"]["robust_classifiers"]
    expected = {f"{c}/{a}" for a, s in params["adaptive"]["surrogate"].items() for c in s.get("classifiers", classifiers)}
    assert set(shapes) - {"clean", "labels"} == expected
    subprocess.run([sys.executable, str(REPO / "scripts" / "variants_on_verdict.py"), "--run", str(work),
                    "--out", str(tmp_path)], cwd=work, env=env, check=True, capture_output=True, timeout=1800)
    scored = json.loads((tmp_path / "variants.json").read_text())
    assert list(scored["variants"]) == ["default"] + list(params["ablation"]["variants"])
    stage = json.loads((work / "metrics" / "adaptive.json").read_text())["large"]["defences"]["diffdefense"]
    default = scored["variants"]["default"]
    for name, summary in default["first_draw"].items():
        assert summary["accuracy"] == stage[name]["accuracy"], name  # same images, same draws, same defence
    assert default["robust_worst_of_draws"]["accuracy"] == stage["robust_all_worst_of_draws"]["accuracy"]
    assert all(0 <= v <= 1 for row in scored["variants"].values() for v in row["saturated_first_100"].values())
    # a later run of one variant into the same folder rescores the default and keeps the others as they were
    first = list(params["ablation"]["variants"])[0]
    subprocess.run([sys.executable, str(REPO / "scripts" / "variants_on_verdict.py"), "--run", str(work),
                    "--out", str(tmp_path), "--variants", first], cwd=work, env=env, check=True, capture_output=True,
                   timeout=1800)
    grown = json.loads((tmp_path / "variants.json").read_text())["variants"]
    assert list(grown) == list(scored["variants"])
    untimed_variants = [{n: {k: v for k, v in row.items() if k != "seconds"} for n, row in vs.items()}
                        for vs in (grown, scored["variants"])]
    assert untimed_variants[0] == untimed_variants[1]
    other_images = subprocess.run([sys.executable, str(REPO / "scripts" / "variants_on_verdict.py"), "--run",
                                   str(work), "--out", str(tmp_path), "--variants", first, "--images", str(n - 1)],
                                  cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert other_images.returncode != 0 and "Traceback" not in other_images.stderr
    assert other_images.stderr.strip().splitlines()[-1].startswith("error: --out")


def test_the_through_tier_rerun_on_the_saved_surrogates_reproduces_the_stages_subset(tiny_run, tmp_path):
    """scripts/through_tier.py on a default run's first through_images: the stage's own subset tier, image for
    image (the attacks through the defence draw from their own seeds; the surrogates are the saved ones)."""
    work, env = tiny_run
    params = yaml.safe_load((work / "params.yaml").read_text())
    k = params["adaptive"]["through_images"]
    subprocess.run([sys.executable, str(REPO / "scripts" / "through_tier.py"), "--run", str(work), "--images", str(k),
                    "--out", str(tmp_path)], cwd=work, env=env, check=True, capture_output=True, timeout=1800)
    rerun = json.loads((tmp_path / "metrics" / "adaptive.json").read_text())["subset"]
    stage = json.loads((work / "metrics" / "adaptive.json").read_text())["subset"]
    assert rerun["defences"] == stage["defences"] and rerun["images"] == k
    assert set(rerun["surrogates_vs_through"]) == set(stage["defences"])
    assert yaml.safe_load((tmp_path / "params.yaml").read_text()) == params


# The tests below rerun stages in the shared work folder, so they come last. Outputs allowed to differ
# between reruns hold wall-clock timings, and only the report reads them.
TIMED = ("metrics/timing/", "metrics/train_", "metrics/table3.json", "plots/table3.csv",
         "plots/ablation", "reports/REPORT.md")

def lock_hashes(work: Path) -> dict[tuple[str, str], str]:
    """(stage, path) -> md5 of every dependency and output in dvc.lock, except the report's own inputs."""
    stages = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    return {(name, entry["path"]): entry["md5"] for name, stage in stages.items() if name != "report"
            for entry in stage.get("deps", []) + stage.get("outs", [])}


def untimed_results(work: Path) -> dict:
    """Every metrics file, the key metrics and every plot table, with timing fields and columns removed."""
    import pandas as pd

    metrics = {str(p.relative_to(work)): untimed(json.loads(p.read_text()))
               for p in [*sorted((work / "metrics").rglob("*.json")), work / "reports" / "summary.json"]
               if "timing" not in p.parts}
    tables = {str(p.relative_to(work)): pd.read_csv(p, keep_default_na=False)  # "" for no paper number, not NaN
              .drop(columns=list(TIMING_KEYS), errors="ignore").to_dict("list")
              for p in sorted((work / "plots").glob("*.csv"))}
    return metrics | tables


def assert_same_except_timings(before: dict, after: dict):
    changed = sorted(path for key, path in ((k, k[1]) for k in before) if before[key] != after.get(key))
    assert all(path.startswith(TIMED) for path in changed), changed


def test_a_forced_rerun_is_byte_identical(tiny_run):
    work, env = tiny_run
    hashes, results = lock_hashes(work), untimed_results(work)
    dvc(work, "repro", "-f", env=env)
    assert_same_except_timings(hashes, lock_hashes(work))  # data/, models/, grids, ROC: the same bytes
    assert untimed_results(work) == results  # every accuracy, interval, AUC and loss


def test_rerunning_a_stage_with_identical_results_leaves_the_stages_after_it_up_to_date(tiny_run):
    work, env = tiny_run
    dvc(work, "repro", "-f", "-s", "defend@diffdefense", env=env)
    # evaluate, detect, grids read the purified images, which are the same bytes; only the report,
    # which shows the rerun's timing, is out of date
    assert set(json.loads(dvc(work, "status", "--json", env=env).stdout)) == {"report"}
    dvc(work, "repro", env=env)


def stage_pids(work: Path, module: str) -> list[int]:
    """Processes running `python -m <module>` in `work`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and module.encode() in (proc / "cmdline").read_bytes()
                    and Path(os.readlink(proc / "cwd")) == work):
                pids.append(int(proc.name))
        except OSError:
            continue  # the process ended, or is not ours
    return pids


def test_a_stage_killed_mid_write_leaves_nothing_that_dvc_hashes(tiny_run):
    work, env = tiny_run
    hashes = lock_hashes(work)
    # What SIGKILL in the middle of writing leaves (the write itself takes milliseconds, too short to hit
    # reliably): a temporary folder beside the output, holding part of it.
    leftover = work / "data/defended/.diffdefense.killed.tmp"
    leftover.mkdir()
    (leftover / "clean.safetensors").write_bytes(b"partial")
    run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "-f", "-s", "defend@diffdefense"], cwd=work, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, pids = time.monotonic() + 300, []
    while not pids and time.monotonic() < deadline:
        pids = stage_pids(work, "stages.defend")
        time.sleep(0.05)
    assert pids, "the defend stage never started"
    time.sleep(2)  # well inside its computation
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert run.wait(timeout=300) != 0
    dvc(work, "repro", env=env)  # DVC does not hash the leftover, and the stage's next write removes it
    assert not list((work / "data/defended").glob(".*.tmp"))
    assert_same_except_timings(hashes, lock_hashes(work))
    assert json.loads(dvc(work, "status", "--json", env=env).stdout) == {}
