import gzip

import numpy as np
import pytest
import torch

from diffdefense.data import DATASETS, fetch, load_split, read_idx, subset, verify
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
