import importlib.util
from pathlib import Path

import pytest
import yaml

from diffdefense.params import validate

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted((REPO / "profiles").glob("*.yaml")) + [REPO / "params.yaml"]


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_profile_passes_the_params_check(path):
    validate(yaml.safe_load(path.read_text()))


def test_the_paper_profile_is_the_authors_scale():
    paper = yaml.safe_load((REPO / "profiles" / "paper.yaml").read_text())
    assert paper["data"]["test_size"] == 1000
    assert all(not spec.get("images") for spec in paper["attack"]["sets"].values())  # every set on all 1000
    assert {k: paper["train_classifier"][k]["epochs"] for k in ("A", "B", "A_adv")} == {"A": 30, "B": 15, "A_adv": 30}
    assert paper["train_ddpm"]["batch_size"] == 1024 and paper["train_gan"]["loss"] == "wgan-gp"
    assert paper["table3"]["images"] == paper["ablation"]["images"] == 1000
    adaptive = paper["adaptive"]
    assert adaptive["images"] >= 200 and adaptive["attack"]["steps"] >= 20 and adaptive["attack"]["eot_samples"] >= 4


def _stage_times():
    spec = importlib.util.spec_from_file_location("stage_times", REPO / "scripts" / "stage_times.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.stage_times


def test_stage_times_run_from_each_stage_to_the_next_and_across_midnight():
    log = ["23:59:50 Running stage 'train_ddpm':", "23:59:51 > python -m stages.train_ddpm", "00:00:30 done",
           "00:00:40 Running stage 'attack@fgsm-white':", "progress bar without a stamp", "00:01:00 Updating lock file"]
    assert _stage_times()(log) == [("train_ddpm", 50.0), ("attack@fgsm-white", 20.0)]


def test_declared_default_walks_every_kind_of_nested_section():
    from diffdefense.params import PARAMS
    from diffdefense.settings import REQUIRED, declared_default
    assert declared_default(PARAMS, "defend.diffdefense.precision") == "auto"  # a registered defence's section
    assert declared_default(PARAMS, "train_classifier.A.precision") == "fp32"  # a mapping's values
    assert declared_default(PARAMS, "train_ddpm.precision") == "fp32"
    assert declared_default(PARAMS, "train_ddpm.epochs") is REQUIRED  # params.yaml must give it
    assert declared_default(PARAMS, "train_ddpm.no_such_setting") is REQUIRED
    assert declared_default(PARAMS, "defend.no_such_defence.L") is REQUIRED
