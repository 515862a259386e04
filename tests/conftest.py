import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffdefense.data import MIRROR_ENV, load_split

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local dataset mirror: $DIFFDEFENSE_DATA_MIRROR, else ../shared/datasets beside the repo."""
    path = Path(os.environ.get(MIRROR_ENV, REPO.parent / "shared" / "datasets")).resolve()
    if not (path / "MNIST" / "raw").is_dir():
        pytest.fail(f"no dataset mirror at {path}; set {MIRROR_ENV} (see README)")
    return path


def repro_in_copy(work: Path, params_yaml: str, mirror: Path) -> dict:
    """Copy the repository's tracked files into `work` (no lock, metrics or plots), write `params_yaml` as its
    params.yaml and run the real `dvc repro` there against the local mirror; returns the environment used."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    (work / "params.yaml").write_text(params_yaml)
    for path in ("dvc.lock", "metrics", "plots"):
        shutil.rmtree(work / path, ignore_errors=True) if (work / path).is_dir() else (work / path).unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    env = os.environ | {"DIFFDEFENSE_DATA_MIRROR": str(mirror), "PYTHONPATH": str(work)}
    result = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return env


@pytest.fixture(scope="session")
def mnist_test(mirror):
    """The MNIST test split straight from the mirror (a torchvision-layout folder)."""
    return load_split(mirror, "MNIST", "test")


@pytest.fixture(scope="session")
def tiny_classifier(mnist_test):
    """Classifier A trained for two epochs on 5000 MNIST test images (the last 5000 are held out)."""
    from diffdefense.models import build_classifier
    from diffdefense.training import train_classifier

    images, labels = mnist_test
    torch.manual_seed(0)  # the initial weights must not depend on which tests ran first
    model = build_classifier("A")
    train_classifier(model, images[:5000], labels[:5000], images[-500:], labels[-500:], epochs=2, lr=0.05,
                     momentum=0.9, batch_size=64, seed=0, device=torch.device("cpu"))
    return model.eval()


@pytest.fixture(scope="session")
def held_out(mnist_test):
    images, labels = mnist_test
    return images[-64:], labels[-64:]


@pytest.fixture(scope="module")
def unet():
    """An untrained U-Net with fixed weights: enough to test a defence's mechanics, not its robustness."""
    from diffdefense.models import UNet

    torch.manual_seed(0)
    return UNet().eval()
