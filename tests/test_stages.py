"""Stages fail on bad input with one line naming the param and what is allowed, and leave nothing behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from diffdefense.diffusion import LinearSchedule
from diffdefense.io import save_tensors
from diffdefense.models import ClassifierA, ClassifierB, UNet, save_ddpm, save_weights

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())
DELETE = object()  # an override that removes the key


def run_stage(workdir: Path, module: str, *args: str, **overrides) -> subprocess.CompletedProcess:
    params = yaml.safe_load(yaml.safe_dump(TINY, sort_keys=False))
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", f"stages.{module}", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and p.name != "params.yaml")


@pytest.fixture
def upstream(tmp_path):
    """A work folder holding what the attack and defend stages read: weights and a clean set."""
    save_weights(ClassifierA(), tmp_path / "models/classifier_A.safetensors")
    save_weights(ClassifierB(), tmp_path / "models/classifier_B.safetensors")
    save_ddpm(UNet(), LinearSchedule(20), tmp_path / "models/ddpm.safetensors")
    save_tensors(tmp_path / "data/sets/clean.safetensors",
                 {"images": torch.rand(4, 1, 28, 28), "labels": torch.arange(4)}, {"seconds_per_image": 0.0})
    return tmp_path


def test_unknown_dataset(tmp_path):
    result = run_stage(tmp_path, "download", data__dataset="CIFAR10")
    assert_one_line_error(result, "data.dataset='CIFAR10' is not allowed", "'MNIST', 'FashionMNIST', 'KMNIST'")
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("args, overrides, fragment", [
    (("--set", "cw-white"), {}, "attack set='cw-white' is not allowed; choose one of ['fgsm-white'"),
    (("--set", "fgsm-white"), {"attack__sets__fgsm-white__images": 5},
     "attack.sets.fgsm-white.images=5 is out of range; expected an integer in [0, 4]"),
    (("--set", "fgsm-white"), {"attack__settings__fgsm__eps": 5},
     "attack.settings.fgsm.eps=5 is out of range; expected a number in [0, 1]"),
    (("--set", "fgsm-white"), {"attack__settings__fgsm__eps": -0.3},
     "attack.settings.fgsm.eps=-0.3 is out of range; expected a number in [0, 1]"),
])
def test_bad_attack_input(upstream, args, overrides, fragment):
    before = files_under(upstream)
    assert_one_line_error(run_stage(upstream, "attack", *args, **overrides), fragment)
    assert files_under(upstream) == before


@pytest.mark.parametrize("overrides, fragment", [
    ({"defend__diffdefense__L": 0}, "defend.diffdefense.L=0 is out of range; expected an integer >= 1"),
    ({"defend__diffdefense__R": -1}, "defend.diffdefense.R=-1 is out of range; expected an integer >= 1"),
    ({"defend__diffdefense__t_star": 21}, "defend.diffdefense.t_star=21 is out of range; expected an integer in [1, 20]"),
    # checked before the stage seeds numpy with it, which would raise a traceback instead
    ({"defend__diffdefense__seed": 0.5},
     "defend.diffdefense.seed=0.5 is out of range; expected an integer in [0, 4294967295]"),
    ({"defend__diffdefense__seed": -1}, "defend.diffdefense.seed=-1 is out of range; expected an integer in [0, 4294967295]"),
    ({"defend__diffdefense__seed": 2**32}, "defend.diffdefense.seed=4294967296 is out of range"),
    ({"defend__diffdefense__L": DELETE}, "defend.diffdefense is missing the key(s) ['L']"),  # not the library's default
    ({"attack__sets__../../escape": {"attack": "fgsm", "crafted_on": "A", "evaluated_on": "A"}},
     "attack.sets key='../../escape' is not a safe name"),  # a stage run on its own checks names that become paths
])
def test_bad_defend_input(upstream, overrides, fragment):
    name = overrides.get("defend__defences", ["diffdefense"])[0]
    before = files_under(upstream)
    assert_one_line_error(run_stage(upstream, "defend", "--defence", name, **overrides), fragment)
    assert files_under(upstream) == before


def test_missing_upstream_output_names_the_stage(upstream):
    result = run_stage(upstream, "defend", "--defence", "diffdefense")  # the attacked sets were never made
    assert_one_line_error(result, "missing input data/sets/fgsm-white.safetensors", "attack@fgsm-white")
    assert not (upstream / "data/defended").exists() or files_under(upstream / "data/defended") == []
    empty = upstream / "empty"
    empty.mkdir()
    assert_one_line_error(run_stage(empty, "evaluate"), "missing input data/sets/clean.safetensors", "'testset'")
    (upstream / "data/sets/clean.safetensors").unlink()
    assert_one_line_error(run_stage(upstream, "attack", "--set", "fgsm-white"),
                          "missing input data/sets/clean.safetensors", "'testset'")


@pytest.mark.parametrize("overrides, fragment", [
    ({"defend__diffdefense__foo": 1}, "defend.diffdefense.foo is not a setting of defend.diffdefense"),
    ({"defend__diffdefense__lr_restart": -1.0},
     "defend.diffdefense.lr_restart=-1.0 is out of range; expected a number > 0"),
    ({"device": "cuda"}, "device='cuda' (param or DIFFDEFENSE_DEVICE) but this machine has no usable CUDA device"),
])
def test_bad_settings_fail_in_one_line_and_write_nothing(upstream, overrides, fragment):
    if overrides.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = files_under(upstream)
    assert_one_line_error(run_stage(upstream, "defend", "--defence", "diffdefense", **overrides), fragment)
    assert files_under(upstream) == before


@pytest.mark.parametrize("overrides, fragment", [
    ({"data__seed": DELETE}, "data is missing the key(s) ['seed']"),
    ({"train_classifier__A__lr": DELETE}, "train_classifier.A is missing the key(s) ['lr']"),
    ({"train_classifier__A__optimizer": "rmsprop"}, "train_classifier.A.optimizer='rmsprop' is not allowed"),
    ({"train_classifier__A__robust_check": 100}, "train_classifier.A.robust_check=100 needs an adversarial entry"),
    ({"train_classifier__A__schedule": "cosine"}, "train_classifier.A.schedule='cosine' is not allowed"),
    ({"train_ddpm__precision": "fp16"}, "train_ddpm.precision='fp16' is not allowed"),
    ({"adaptive__surrogate__pgd__precision": "auto"}, "adaptive.surrogate.pgd.precision='auto' is not allowed"),
    ({"train_ddpm__epoch": 3}, "train_ddpm.epoch is not a setting of train_ddpm; allowed: ['batch_size',"),
    ({"defend": 5}, "defend must be a mapping with the keys ['batch_size', 'defences'], got 5"),
    ({"attack__sets__../../escape": {"attack": "fgsm", "crafted_on": "A", "evaluated_on": "A"}},
     "attack.sets key='../../escape' is not a safe name"),
    ({"attack__sets__fgsm-white__attack": "cw"}, "attack.sets.fgsm-white.attack='cw' is not allowed; choose one of"),
    ({"attack__sets__fgsm-white__crafted_on": "C"},
     "attack.sets.fgsm-white.crafted_on='C' is not allowed; choose one of ['A', 'B', 'A_adv', 'A_pgd']"),
    ({"attack__sets__pgd-white__evaluated_on": "D"}, "attack.sets.pgd-white.evaluated_on='D' is not allowed"),
    ({"attack__sets__fgsm-white__images": -5}, "attack.sets.fgsm-white.images=-5 is out of range; expected an integer >= 1"),
    ({"attack__sets__fgsm-white__images": 0}, "attack.sets.fgsm-white.images=0 is out of range; expected an integer >= 1"),
    ({"data__test_size": 0}, "data.test_size=0 is out of range; expected an integer in [1, 10000]"),
    ({"data__test_size": 20000}, "data.test_size=20000 is out of range; expected an integer in [1, 10000]"),
    ({"defend__defences": ["magic"]}, "defend.defences='magic' is not allowed"),
    ({"device": "tpu"}, "device='tpu' is not allowed; choose one of ['auto', 'cpu', 'cuda']"),
    ({"launcher": "bash -c"}, "launcher='bash -c' is not allowed; use 'python' or 'torchrun <options>'"),
    ({"statistics__confidence": 1.5}, "statistics.confidence=1.5 is out of range; expected a number in [0.5, 1)"),
    ({"train_ddpm__beta_start": 0.05}, "train_ddpm.beta_start=0.05 must be below train_ddpm.beta_end=0.02"),
    ({"ablation__sets": ["clean", "no-such-set"]}, "ablation.sets names 'no-such-set', which is not a set evaluated on A"),
    ({"adaptive__surrogate__pgd__classifiers": ["B"]},
     "adaptive.surrogate.pgd.classifiers='B' is not allowed; choose one of ['A', 'A_pgd']"),
    ({"attack__settings__fgsm__eps": 5}, "attack.settings.fgsm.eps=5 is out of range; expected a number in [0, 1]"),
    ({"attack__settings__pgd__steps": -1}, "attack.settings.pgd.steps=-1 is out of range; expected an integer >= 1"),
    ({"attack__settings__pgd__stepz": 3}, "attack.settings.pgd.stepz is not a setting of attack.settings.pgd"),
    ({"adaptive__surrogate__binarize_pgd__temperature": -1}, "adaptive.surrogate.binarize_pgd.temperature=-1"),
    ({"train_classifier__A_pgd__adversarial__steps": 0}, "train_classifier.A_pgd.adversarial.steps=0 is out of range"),
    ({"adaptive__full_gradient__steps": 0}, "adaptive.full_gradient.steps=0 is out of range; expected an integer >= 1"),
    ({"adaptive__full_gradient__stepz": 5}, "adaptive.full_gradient.stepz is not a setting of adaptive.full_gradient"),
    # checked against the declarations since the settings redesign (passed check_params before it):
    ({"ablation__variants__unet_zeroed__denoiser": "gan"},
     "ablation.variants.unet_zeroed.denoiser='gan' is not allowed; choose one of ['unet', 'none']"),
    ({"ablation__variants__clamp_output__outptu": "clamp"},
     "ablation.variants.clamp_output.outptu is not a setting of ablation.variants.clamp_output"),
    ({"ablation__t_star": [1, 500]}, "ablation.t_star=500 is out of range; expected an integer in [1, 20]"),
])
def test_check_params_names_each_bad_param_in_one_line_and_writes_nothing(tmp_path, overrides, fragment):
    """The check_params stage, upstream of every other, checks params.yaml as a whole: `dvc repro` stops there."""
    assert_one_line_error(run_stage(tmp_path, "check_params", **overrides), fragment)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("where, seed", [
    ("data", 0.5), ("train_classifier__B", -1), ("train_ddpm", 2**32), ("train_gan", -1), ("attack", 0.5),
    ("attack__settings__autoattack", -1), ("defend__diffdefense", 0.5), ("defend__defencegan", 2**32),
    ("defend__diffpure", -1), ("statistics", 2**32), ("adaptive__attack", 0.5)])
def test_check_params_allows_only_seeds_numpy_takes(tmp_path, where, seed):
    param = f"{where.replace('__', '.')}.seed"
    assert_one_line_error(run_stage(tmp_path, "check_params", **{f"{where}__seed": seed}),
                          f"{param}={seed!r} is out of range; expected an integer in [0, 4294967295]")


@pytest.mark.parametrize("overrides, fragment", [
    ({"defend__diffdefense__L": DELETE}, "defend.diffdefense is missing the key(s) ['L']"),
    ({"defend__defencegan__seed": DELETE, "defend__defencegan__R": DELETE},
     "defend.defencegan is missing the key(s) ['R', 'seed']"),
    ({"defend__binarize": {}}, "defend.binarize is missing the key(s) ['threshold']"),
    ({"defend__diffdefense__t_star": 21}, "defend.diffdefense.t_star=21 is out of range; expected an integer in [1, 20]"),
    ({"defend__diffdefense__variant": "fast"},
     "defend.diffdefense.variant='fast' is not allowed; choose one of ['code', 'paper']"),
    ({"defend__defencegan__momentum": 1.0}, "defend.defencegan.momentum=1.0 is out of range; expected a number in [0, 1)"),
    ({"defend__diffpure__t_star": 0}, "defend.diffpure.t_star=0 is out of range; expected an integer in [1, 20]"),
    ({"defend__binarize__threshold": 2}, "defend.binarize.threshold=2 is out of range; expected a number in (0, 1)"),
    ({"defend__none__foo": 1}, "defend.none.foo is not a setting of defend.none"),
])
def test_check_params_checks_every_defence_s_settings_without_weights(tmp_path, overrides, fragment):
    """Defences that `defend` does not run (defencegan, diffpure, ...) are checked too, in a folder without
    models: no weights are needed, so a bad setting is found before the networks are trained."""
    assert_one_line_error(run_stage(tmp_path, "check_params", **overrides), fragment)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("defence, key, fragment", [
    ("diffdefense", "batch_size", "; the stage sets it from defend.batch_size"),
    ("defencegan", "batch_size", "; the stage sets it from defend.batch_size"),
    ("diffdefense", "progress", "; the stage supplies it"),
    ("binarize", "progress", "; the stage supplies it"),
    ("diffpure", "unet", "; the stage supplies it"),
])
def test_check_params_rejects_what_the_stage_passes_a_defence_itself(tmp_path, defence, key, fragment):
    """batch_size and progress come from DefenceContext, the networks from models/: given in defend.<defence>
    too they would reach the constructor twice ("multiple values for keyword argument", a traceback)."""
    result = run_stage(tmp_path, "check_params", **{f"defend__{defence}__{key}": 8})
    assert_one_line_error(result, f"defend.{defence}.{key} is not a setting of defend.{defence}", fragment)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("key", ["batch_size", "progress"])
def test_the_defend_stage_rejects_what_it_passes_the_defence_itself(upstream, key):
    before = files_under(upstream)
    result = run_stage(upstream, "defend", "--defence", "diffdefense", **{f"defend__diffdefense__{key}": 8})
    assert_one_line_error(result, f"defend.diffdefense.{key} is not a setting of defend.diffdefense")
    assert files_under(upstream) == before


def test_check_params_rejects_a_device_this_machine_lacks(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_one_line_error(run_stage(tmp_path, "check_params", device="cuda"),
                          "device='cuda' (param or DIFFDEFENSE_DEVICE) but this machine has no usable CUDA device")
    assert files_under(tmp_path) == []


def test_git_ignores_what_a_killed_write_leaves():
    """After SIGKILL an atomic write leaves .<name>.<random>.tmp beside its target (diffdefense.io)."""
    for leftover in ("data/defended/.diffdefense.k3_x9a.tmp/clean.safetensors", "models/.ddpm.safetensors.q1w2.tmp"):
        assert subprocess.run(["git", "check-ignore", "-q", leftover], cwd=REPO).returncode == 0, leftover


def test_the_check_stage_reports_a_bad_param_first(tmp_path):
    """check_params runs before every other stage (dvc.yaml), so DVC never meets a bad param first."""
    assert_one_line_error(run_stage(tmp_path, "check_params", attack__settings__pgd=DELETE),
                          "attack.sets.pgd-white.attack='pgd' has no attack.settings.pgd")
    assert files_under(tmp_path) == []
    assert run_stage(tmp_path, "check_params").returncode == 0
    assert (tmp_path / "data/params-checked").is_file()


def test_test_size_larger_than_the_split(tmp_path, mirror):
    from diffdefense.data import fetch
    fetch("MNIST", tmp_path / "data/raw", mirror=mirror, splits=("test",))
    before = files_under(tmp_path)
    assert_one_line_error(run_stage(tmp_path, "testset", data__test_size=20000),
                          "data.test_size=20000 is out of range; expected an integer in [1, 10000]")
    assert files_under(tmp_path) == before


def test_testset_on_its_own_rejects_a_test_size_of_0(tmp_path, mirror):
    """0 is not "all images": check_params rejects it, and so does the stage run without check_params."""
    from diffdefense.data import fetch
    fetch("MNIST", tmp_path / "data/raw", mirror=mirror, splits=("test",))
    before = files_under(tmp_path)
    assert_one_line_error(run_stage(tmp_path, "testset", data__test_size=0),
                          "data.test_size=0 is out of range; expected an integer in [1, 10000]")
    assert files_under(tmp_path) == before
