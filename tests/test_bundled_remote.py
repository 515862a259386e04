"""A newcomer's first result without retraining: the committed run's trained models travel with the
repository in a DVC remote (`dvc-remote/`, the default remote `bundled`), so `dvc pull` restores them and
DVC counts their stages as done."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TRAINING = ["train_classifier@A", "train_classifier@B", "train_classifier@A_adv", "train_classifier@A_pgd",
            "train_ddpm", "train_gan"]


def dvc(workdir: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_dvc_pull_from_the_bundled_remote_leaves_the_training_stages_up_to_date(tmp_path, mirror):
    work = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True)
    env = os.environ | {"DIFFDEFENSE_DATA_MIRROR": str(mirror), "PYTHONPATH": str(work)}
    dvc(work, "repro", "download", env=env)  # the raw data is never committed: the mirror gives the same bytes
    dvc(work, "pull", "train_classifier", "train_ddpm", "train_gan", env=env)  # as the README says
    status = json.loads(dvc(work, "status", "--json", *TRAINING, env=env).stdout)
    assert status == {}, status
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    for stage in TRAINING:
        for out in lock[stage]["outs"]:
            if out["path"].startswith("models/"):
                assert (work / out["path"]).stat().st_size == out["size"]
