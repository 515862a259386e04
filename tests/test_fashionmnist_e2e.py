"""The FashionMNIST profile end to end on a tiny budget: the tiny profile's sizes with profiles/fashionmnist.yaml's
dataset and attack budgets (every eps, step and final_step), through the real `dvc repro`."""

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from conftest import repro_in_copy

REPO = Path(__file__).resolve().parents[1]
BUDGET_KEYS = ("eps", "step", "final_step")  # what the FashionMNIST profile changes in every attack


def with_budgets(tiny, fashion):
    """`tiny` with the attack budgets of `fashion` wherever both have the same setting (nested dicts)."""
    if not isinstance(tiny, dict) or not isinstance(fashion, dict):
        return tiny
    return {key: fashion[key] if key in BUDGET_KEYS and key in fashion
            else with_budgets(value, fashion.get(key)) for key, value in tiny.items()}


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory, mirror):
    tiny = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())
    fashion = yaml.safe_load((REPO / "profiles" / "fashionmnist.yaml").read_text())
    params = with_budgets(tiny, fashion) | {"data": tiny["data"] | {"dataset": fashion["data"]["dataset"]}}
    work = tmp_path_factory.mktemp("fashion")
    repro_in_copy(work, yaml.safe_dump(params, sort_keys=False), mirror)
    return work, params


def test_the_profile_attacks_at_the_fashionmnist_eps(fashion_run):
    work, params = fashion_run
    assert params["data"]["dataset"] == "FashionMNIST" and params["attack"]["settings"]["pgd"]["eps"] == 0.1
    clean = load_file(work / "data" / "sets" / "clean.safetensors")
    for name in ("pgd-white", "fgsm-white"):
        adversarial = load_file(work / "data" / "sets" / f"{name}.safetensors")
        count = len(adversarial["images"])
        distance = (adversarial["images"] - clean["images"][:count]).abs().amax()
        assert 0.05 < float(distance) <= 0.1 + 1e-6, name  # the budget is used, and never exceeded


def test_every_output_is_fashionmnist_and_the_report_says_there_are_no_paper_numbers(fashion_run):
    work, params = fashion_run
    table1 = json.loads((work / "metrics" / "table1.json").read_text())
    assert table1["dataset"] == "FashionMNIST" and table1["test_images"] == params["data"]["test_size"]
    adaptive = json.loads((work / "metrics" / "adaptive.json").read_text())
    assert adaptive["large"]["images"] == params["adaptive"]["images"]
    assert {"none", "binarize", "diffpure", "diffdefense", "A_pgd"} <= set(adaptive["large"]["defences"])
    table3 = json.loads((work / "metrics" / "table3.json").read_text())
    assert table3["ddpm"]["samples_confident"]["images"] == 500
    ddpm = json.loads((work / "metrics" / "train_ddpm" / "metrics.json").read_text())
    assert ddpm["held_out_images"] == 10_000 and ddpm["held_out_eps_mse"] > 0
    report = (work / "reports" / "REPORT.md").read_text()
    assert report.startswith("# DiffDefense reproduction report (FashionMNIST)")
    assert "The paper reports no FashionMNIST numbers, so nothing is in brackets." in report
