"""Datasets: fetch torchvision's raw IDX files (or copy them from a local mirror), verify, load.

Set DIFFDEFENSE_DATA_MIRROR to a folder in torchvision's `<Name>/raw/<file>.gz` layout to work
offline; otherwise the files are downloaded from the datasets' public sources.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import UsageError, check_int_range, check_one_of
from .io import atomic_path

MIRROR_ENV = "DIFFDEFENSE_DATA_MIRROR"


@dataclass(frozen=True)
class RawFile:
    """One raw IDX file of a dataset and the checksum it is verified against."""

    name: str
    # sha256 of the decompressed bytes; where it is not published we fall back to torchvision's md5 of the .gz.
    sha256: str | None = None
    gz_md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset is downloaded from (tried in order) and its four raw files."""

    urls: tuple[str, ...]
    files: dict[str, RawFile]  # keys: train-images, train-labels, test-images, test-labels


def _files(checksums: dict[str, tuple[str | None, str | None]]) -> dict[str, RawFile]:
    names = {
        "train-images": "train-images-idx3-ubyte.gz",
        "train-labels": "train-labels-idx1-ubyte.gz",
        "test-images": "t10k-images-idx3-ubyte.gz",
        "test-labels": "t10k-labels-idx1-ubyte.gz",
    }
    return {key: RawFile(names[key], *checksums[key]) for key in names}


DATASETS: dict[str, DatasetSpec] = {
    "MNIST": DatasetSpec(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        _files({
            "train-images": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", None),
            "train-labels": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", None),
            "test-images": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", None),
            "test-labels": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", None),
        }),
    ),
    "FashionMNIST": DatasetSpec(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        _files({
            "train-images": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", None),
            "train-labels": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", None),
            "test-images": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", None),
            "test-labels": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", None),
        }),
    ),
    "KMNIST": DatasetSpec(
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        _files({
            "train-images": (None, "bdb82020997e1d708af4cf47b453dcf7"),
            "train-labels": ("2a16eeae62da984b8bd24fa32e31d47291f01dac3fe84d5594f304f71e7d374b", None),
            "test-images": ("76fbd229ce87db80dd281af5e6670de4ad0e42fb30a7bd643972994c47c1f42e", None),
            "test-labels": ("a11dc742be8e781a40a92f53d6a4957e7b7d36df2faa097659131ebfd8fd60c6", None),
        }),
    ),
}


def spec(dataset: str) -> DatasetSpec:
    """The DatasetSpec of `dataset`, or a UsageError naming data.dataset and the allowed names."""
    check_one_of("data.dataset", dataset, DATASETS)
    return DATASETS[dataset]


MAX_DECOMPRESSED_BYTES = 256 * 2**20  # the largest raw file (train images) is 47 MB; a cap stops a gzip bomb
CHUNK = 2**20


def verify(path: Path, raw: RawFile, shown: str | Path | None = None) -> None:
    """Raise UsageError unless `path` matches its published checksum. The file is hashed while it is
    streamed (decompressed for sha256, with a size cap); errors name `shown` (default: `path`)."""
    shown = shown or path
    if raw.sha256 is not None:
        digest, expected, what = hashlib.sha256(), raw.sha256, "sha256 of decompressed data"
        size = 0
        try:
            with gzip.open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    size += len(chunk)
                    if size > MAX_DECOMPRESSED_BYTES:
                        raise UsageError(f"{shown} decompresses to more than {MAX_DECOMPRESSED_BYTES >> 20} MiB; "
                                         "it is not the published file")
                    digest.update(chunk)
        except (EOFError, OSError, zlib.error) as exc:  # truncated, not gzip, or corrupt deflate data
            raise UsageError(f"{shown} is not a readable gzip file ({exc or type(exc).__name__}); "
                             "replace it with the published file") from exc
    else:
        digest, expected, what = hashlib.md5(), raw.gz_md5, "md5 of the .gz"
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    if digest.hexdigest() != expected:
        raise UsageError(f"checksum mismatch for {shown} ({what}): got {digest.hexdigest()}, expected {expected}; "
                         "the file is corrupt or not the published one")


def mirror_root(mirror: str | Path | None = None) -> Path | None:
    """The local mirror folder (`mirror`, else $DIFFDEFENSE_DATA_MIRROR) as an absolute path, or None.

    A relative path is taken from the project root, also inside a queued experiment (`dvc exp run
    --queue` runs in <root>/.dvc/tmp/exps/<run>/, where the relative path would point nowhere)."""
    value = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        cwd = Path.cwd()
        parts = cwd.parts
        base = next((Path(*parts[:i]) for i in range(len(parts) - 2) if parts[i:i + 3] == (".dvc", "tmp", "exps")),
                    cwd)
        path = base / path
    path = path.resolve()
    if not path.is_dir():
        raise UsageError(f"the local mirror {MIRROR_ENV}={value} is not a folder ({path}); point it at a folder in "
                         "torchvision's <Name>/raw/ layout, or unset it to download")
    return path


def fetch(dataset: str, dest: Path, mirror: str | Path | None = None,
          splits: tuple[str, ...] = ("train", "test")) -> list[Path]:
    """Copy (from `mirror`, default $DIFFDEFENSE_DATA_MIRROR) or download the raw files of `dataset` into
    `dest/<Name>/raw/`, verified."""
    spec_ = spec(dataset)
    root = mirror_root(mirror)
    out_dir = Path(dest) / dataset / "raw"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, raw in spec_.files.items():
        if key.split("-")[0] not in splits:
            continue
        target = out_dir / raw.name
        with atomic_path(target) as tmp:
            if root:
                source = root / dataset / "raw" / raw.name
                if not source.is_file():
                    raise UsageError(f"{source} is missing from the local mirror {MIRROR_ENV}={root}; "
                                     f"unset {MIRROR_ENV} on a machine with internet to download {dataset}")
                verify(source, raw)
                shutil.copyfile(source, tmp)
            else:
                _download(spec_.urls, raw.name, tmp)
                verify(tmp, raw, shown=f"the downloaded {raw.name}")
        written.append(target)
    return written


def _download(urls: tuple[str, ...], name: str, target: Path) -> None:
    errors = []
    for base in urls:
        try:
            with urllib.request.urlopen(base + name, timeout=60) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out)
            return
        except OSError as exc:
            errors.append(f"{base + name}: {exc}")
    raise UsageError(f"could not download {name} (" + "; ".join(errors) + f"); set {MIRROR_ENV} to a local copy")


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzipped) into a numpy array."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error) as exc:
        raise UsageError(f"{path} is not a readable gzip file ({exc or type(exc).__name__}); "
                         "rerun `dvc repro -f download`") from exc
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(raw_root: str | Path, dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 N x 1 x 28 x 28 in [0, 1] and int64 labels, from a fetched raw folder."""
    check_one_of("split", split, ["train", "test"])
    files = spec(dataset).files
    folder = Path(raw_root) / dataset / "raw"
    paths = [folder / files[f"{split}-{kind}"].name for kind in ("images", "labels")]
    for p in paths:
        if not p.exists():
            raise UsageError(f"missing input {p}; it is made by the 'download' stage (run `dvc repro download`)")
    images = torch.from_numpy(read_idx(paths[0]).copy()).float().div_(255).unsqueeze(1)
    labels = torch.from_numpy(read_idx(paths[1]).astype(np.int64))
    return images, labels


def training_split(raw_root: str | Path, data: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images and labels every training stage uses: params `data` (dataset, and a seeded
    subset of train_size images, 0 = all). The test split is never part of it."""
    images, labels = load_split(raw_root, data["dataset"], "train")
    idx = subset(len(images), data["train_size"], data["seed"], "data.train_size")
    return images[idx], labels[idx]


def subset(n_total: int, size: int, seed: int, param: str = "size") -> torch.Tensor:
    """Indices of a seeded random subset of `size` of `n_total` items (size 0 means all); a size larger
    than `n_total` is a UsageError naming `param`."""
    check_int_range(param, size, 0, n_total)
    if size == 0 or size == n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:size].sort().values
