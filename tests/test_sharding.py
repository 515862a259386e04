"""Stages under `torchrun --nproc-per-node 2` (CPU, gloo) write byte-identical outputs to one process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from diffdefense.diffusion import LinearSchedule
from diffdefense.io import save_tensors
from diffdefense.models import ClassifierA, UNet, save_ddpm, save_weights
from diffdefense.sharding import map_chunks

REPO = Path(__file__).resolve().parents[1]


def test_without_torchrun_chunks_run_in_order_in_this_process():
    assert map_chunks(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]


def test_under_torchrun_each_rank_computes_every_other_chunk_and_all_get_all(tmp_path):
    script = tmp_path / "share.py"
    # each rank writes its own file: two processes printing to one pipe can interleave their lines
    script.write_text(
        "import sys, torch\n"
        "from diffdefense.sharding import map_chunks, process_group, rank_and_size\n"
        "with process_group(torch.device('cpu')):\n"
        "    rank = rank_and_size()[0]\n"
        "    result = map_chunks(lambda i: (i, rank_and_size()[0]), range(5))\n"
        "    open(f'{sys.argv[1]}/rank{rank}.txt', 'w').write(f'{rank} {result}')\n")
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = "[(0, 0), (1, 1), (2, 0), (3, 1), (4, 0)]"
    written = sorted(p.read_text() for p in tmp_path.glob("rank*.txt"))
    assert written == [f"0 {expected}", f"1 {expected}"]


def _workdir(path: Path, mirror: Path) -> Path:
    path.mkdir()
    (path / "data/raw").mkdir(parents=True)
    (path / "data/raw/MNIST").symlink_to(mirror / "MNIST")  # the adaptive stage draws its own test images
    params = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())
    params["attack"]["sets"] = {"pgd-white": {"attack": "pgd", "crafted_on": "A", "evaluated_on": "A"}}
    params["attack"]["batch_size"] = 2  # 5 images: batches of 2, 2, 1 spread over the processes
    params["defend"]["batch_size"] = 2
    # 4 images through the defence, gradients 2 at a time: each process takes one batch of every attack step
    params["adaptive"] |= {"images": 6, "through_images": 4, "robust_classifiers": ["A_pgd"]}
    params["adaptive"]["attack"] |= {"steps": 2, "eot_samples": 2, "batch_size": 2}
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    torch.manual_seed(0)
    save_weights(ClassifierA(), path / "models/classifier_A.safetensors")
    save_weights(ClassifierA(), path / "models/classifier_A_pgd.safetensors")
    save_ddpm(UNet(), LinearSchedule(20), path / "models/ddpm.safetensors")
    save_tensors(path / "data/sets/clean.safetensors", {"images": torch.rand(5, 1, 28, 28), "labels": torch.arange(5)})
    return path


def _run(workdir: Path, processes: int, stage: str, *args: str):
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "DIFFDEFENSE_DEVICE": "cpu"}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
                if processes > 1 else [sys.executable])
    result = subprocess.run(launcher + ["-m", f"stages.{stage}", *args], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("stage, args, outputs", [
    ("attack", ["--set", "pgd-white"], ["data/sets/pgd-white.safetensors"]),
    ("defend", ["--defence", "diffdefense"], ["data/defended/diffdefense/clean.safetensors"]),
    ("adaptive", [], ["metrics/adaptive.json", "plots/adaptive.csv"]),  # its timings differ, and only the report reads them
])
def test_two_processes_write_what_one_writes(tmp_path, mirror, stage, args, outputs):
    one, two = _workdir(tmp_path / "one", mirror), _workdir(tmp_path / "two", mirror)
    if stage == "defend":  # its input: the attack set, made once and copied
        _run(one, 1, "attack", "--set", "pgd-white")
        (two / "data/sets/pgd-white.safetensors").write_bytes((one / "data/sets/pgd-white.safetensors").read_bytes())
        outputs = outputs + ["data/defended/diffdefense/pgd-white.safetensors"]
    _run(one, 1, stage, *args)
    _run(two, 2, stage, *args)
    for output in outputs:
        assert (one / output).read_bytes() == (two / output).read_bytes(), output
