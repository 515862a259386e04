import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from diffdefense.data import DATASETS, MIRROR_ENV, fetch, load_split, mirror_root, read_idx, subset, verify
from diffdefense.errors import UsageError


def write_idx(path, array: np.ndarray):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_roundtrip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), array)


def test_fetch_from_mirror_verifies_and_loads(mirror, tmp_path):
    written = fetch("MNIST", tmp_path, mirror=str(mirror), splits=("test",))
    assert sorted(p.name for p in written) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    images, labels = load_split(tmp_path, "MNIST", "test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert labels.shape == (10000,) and set(labels.tolist()) == set(range(10))


def test_kmnist_test_split_from_mirror(mirror, tmp_path):
    fetch("KMNIST", tmp_path, mirror=str(mirror), splits=("test",))
    images, labels = load_split(tmp_path, "KMNIST", "test")
    assert images.shape == (10000, 1, 28, 28) and labels.max() == 9


def test_kmnist_train_missing_from_mirror_names_the_file(mirror, tmp_path):
    with pytest.raises(UsageError, match="train-images-idx3-ubyte.gz is missing from the local mirror"):
        fetch("KMNIST", tmp_path, mirror=str(mirror))
    assert not list((tmp_path / "KMNIST" / "raw").glob("train-images*")), "no partial file may stay behind"


def test_checksum_mismatch_is_reported(tmp_path):
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx(bad, np.zeros(10, dtype=np.uint8))
    with pytest.raises(UsageError, match="checksum mismatch"):
        verify(bad, DATASETS["MNIST"].files["test-labels"])


def test_unknown_dataset_is_rejected(tmp_path):
    with pytest.raises(UsageError, match=r"data.dataset='CIFAR' is not allowed; choose one of \['MNIST'"):
        fetch("CIFAR", tmp_path)


def test_subset_is_seeded_and_sorted():
    a, b, c = subset(1000, 50, 0), subset(1000, 50, 0), subset(1000, 50, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(a) == 50 and torch.equal(a, a.sort().values) and len(set(a.tolist())) == 50
    assert torch.equal(subset(10, 0, 0), torch.arange(10))


def test_subset_larger_than_the_split_names_the_param():
    with pytest.raises(UsageError, match=r"data.test_size=20000 is out of range; expected an integer in \[0, 10000\]"):
        subset(10000, 20000, 0, "data.test_size")


def mirror_copy(mirror: Path, root: Path, damage) -> Path:
    """A mirror with MNIST's test files, one of them passed through `damage(bytes) -> bytes`."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        data = (mirror / "MNIST" / "raw" / name).read_bytes()
        (raw / name).write_bytes(damage(data) if name.startswith("t10k-labels") else data)
    return raw / "t10k-labels-idx1-ubyte.gz"


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:len(data) // 2], "is not a readable gzip file"),           # truncated
    (lambda data: b"not gzip at all" + data, "is not a readable gzip file"),        # not gzip
    (lambda data: data[:40] + bytes(64) + data[104:], "is not a readable gzip file"),  # corrupt deflate stream
    (lambda data: gzip.compress(b"\0" * 100), "checksum mismatch for"),          # another file
])
def test_damaged_mirror_file_is_named_and_nothing_is_written(mirror, tmp_path, damage, message):
    bad = mirror_copy(mirror, tmp_path / "mirror", damage)
    out = tmp_path / "out"
    with pytest.raises(UsageError) as info:
        fetch("MNIST", out, mirror=tmp_path / "mirror", splits=("test",))
    assert message in str(info.value) and str(bad) in str(info.value), info.value  # the mirror file, absolute
    assert len(str(info.value).splitlines()) == 1
    assert not (out / "MNIST" / "raw" / bad.name).exists()
    assert [p.name for p in (out / "MNIST" / "raw").iterdir() if p.name.startswith(".")] == []


def test_a_relative_mirror_is_found_from_a_queued_experiment(mirror, tmp_path, monkeypatch):
    project = tmp_path / "project"
    queued = project / ".dvc" / "tmp" / "exps" / "tmpabc123"
    queued.mkdir(parents=True)
    (tmp_path / "shared").symlink_to(mirror)
    monkeypatch.setenv(MIRROR_ENV, "../shared")
    monkeypatch.chdir(project)
    assert mirror_root() == mirror.resolve()
    monkeypatch.chdir(queued)  # where `dvc exp run --queue` runs the stages
    assert mirror_root() == mirror.resolve()
    monkeypatch.setenv(MIRROR_ENV, "../nowhere")
    with pytest.raises(UsageError, match=f"is not a folder \\({re.escape(str(tmp_path / 'nowhere'))}\\)"):
        mirror_root()
