"""The real `dvc repro` on the tiny profile, in a copy of the repository, against the local mirror."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def dvc(workdir: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mirror):
    work = tmp_path_factory.mktemp("repo")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    shutil.copy(REPO / "profiles" / "tiny.yaml", work / "params.yaml")
    for path in ("dvc.lock", "metrics", "plots"):
        shutil.rmtree(work / path, ignore_errors=True) if (work / path).is_dir() else (work / path).unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    env = os.environ | {"DIFFDEFENSE_DATA_MIRROR": str(mirror), "PYTHONPATH": str(work)}
    dvc(work, "repro", env=env)
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
            assert all(0 <= v <= 100 for v in cell.values())
    seconds = table["defence_seconds_per_image"]["diffdefense"]
    assert {"clean", "fgsm-white", "pgd-black", "elasticnet-white"} <= set(seconds)
    assert "fgsm-advtrained" not in seconds  # fed to A_adv, which is not defended
    assert all(s > 0 for s in seconds.values())
    assert (work / "plots" / "table1.csv").read_text().startswith("set,attack,box,crafted_on,evaluated_on,defence")


def test_table2_and_detection(tiny_run):
    work, _ = tiny_run
    table2 = json.loads((work / "metrics" / "table2.json").read_text())
    assert tuple(table2) == TABLE2_ATTACKS
    for attack, row in table2.items():
        assert 0 <= row["without_defence"] <= 100 and 0 <= row["with_defence"] <= 100
    assert 0 <= table2["fgsm"]["adversarial_training"] <= 100  # the tiny profile attacks A_adv with FGSM, Square
    assert table2["pgd"]["adversarial_training"] is None
    assert table2["elasticnet"]["images"] == 8 and table2["fgsm"]["images"] == 16  # the profile caps elasticnet
    detection = json.loads((work / "metrics" / "detection.json").read_text())["diffdefense"]
    assert set(detection) == {"fgsm-white", "fgsm-black", "pgd-white", "pgd-black", "deepfool-white",
                              "deepfool-black", "eotpgd-white", "square-white", "autoattack-white", "elasticnet-white"}
    assert all(0 <= m["auc"] <= 1 and 0 <= m["tpr_at_5pct_fpr"] <= 1 for m in detection.values())
    roc = (work / "plots" / "roc.csv").read_text().splitlines()
    assert roc[0] == "defence,set,step,fpr,tpr" and len(roc) > 20
    assert (work / "plots" / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_repro_is_reproducible_and_metrics_show(tiny_run):
    work, env = tiny_run
    status = json.loads(dvc(work, "status", "--json", env=env).stdout)
    assert status == {}, status
    shown = dvc(work, "metrics", "show", env=env).stdout
    assert "table1.json" in shown and "accuracy.fgsm.white.diffdefense" in shown


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
    assert changed == {"defend@diffdefense", "table3", "ablation", "adaptive", "report"}  # the report lists the params


def test_table3_ablation_grids_and_report(tiny_run):
    work, _ = tiny_run
    table3 = json.loads((work / "metrics" / "table3.json").read_text())
    assert table3["set"] == "fgsm-white" and table3["images"] == 8
    assert [(r["defence"], r["L"], r["R"]) for r in table3["rows"]] == [("defencegan", 3, 2), ("diffdefense", 2, 1)]
    assert all(0 <= r["accuracy"] <= 100 and r["seconds_per_image"] > 0 for r in table3["rows"])
    t_star = (work / "plots" / "ablation_t_star.csv").read_text().splitlines()
    assert t_star[0].startswith("t_star,set,accuracy,seconds_per_image") and len(t_star) == 1 + 2 * 2
    grids = sorted(p.name for p in (work / "plots" / "grids").iterdir())
    assert "clean.png" in grids and "fgsm-white.png" in grids
    report = (work / "reports" / "REPORT.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Fig. 2", "## Fig. 3", "## Fig. 4", "## Adaptive"):
        assert heading in report
    assert "| FGSM | white-box |" in report and "| Defense-GAN | 3 | 2 |" in report
    assert "](../plots/roc.png)" in report and "](../plots/grids/fgsm-white.png)" in report
    # The committed FashionMNIST run (results/) is shown beside this MNIST run's Table 1.
    assert "## Table 1 beside the other datasets' runs (FashionMNIST)" in report
    assert "| Attack | Setting | MNIST: no defence | MNIST: DiffDefense | FashionMNIST: no defence |" in report


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
    assert adaptive["images"] == 4 and list(adaptive["defences"]) == ["none", "binarize", "diffpure", "diffdefense"]
    for name, row in adaptive["defences"].items():
        adaptive_attacks = {"bpda_eot_pgd"} | ({"full_gradient_pgd"} if name != "binarize" else set())
        assert set(row) == {"clean", "fgsm-white", "pgd-white", "robust_non_adaptive", "robust_all"} | adaptive_attacks
        assert row["robust_all"] <= min([row["robust_non_adaptive"]] + [row[a] for a in adaptive_attacks])
