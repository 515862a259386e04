"""Atomic file writers and safe tensor loading: a failed stage never leaves a half-written output."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import UsageError

# Temporary outputs are named .<name>.<random>.tmp beside their target. A stage killed with SIGKILL can
# leave one behind: .dvcignore ignores the pattern, so DVC never hashes it into a directory dependency,
# and the next write of the same target removes it.
TMP_SUFFIX = ".tmp"


def _remove_leftovers(path: Path) -> None:
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*{TMP_SUFFIX}"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary folder beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX))
    try:
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# All metadata goes under one key as sorted JSON: safetensors writes a metadata map in hash order, which
# differs from run to run, so several keys would make identical tensors hash differently.
METADATA_KEY = "diffdefense"


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Write tensors (and JSON-serialisable metadata) to a safetensors file atomically; the same inputs
    give the same bytes."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(metadata or {}, sort_keys=True)})


def load_tensors(path: str | Path, made_by: str = "an upstream") -> tuple[dict[str, torch.Tensor], dict]:
    """Load a safetensors file and its JSON metadata, with a clear error when it is missing or damaged."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"missing input {path}; it is made by the '{made_by}' stage (run `dvc repro {made_by}`)")
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}
            raw_meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable safetensors file ({exc}); rerun `dvc repro {made_by}`") from exc
    return tensors, json.loads(raw_meta.get(METADATA_KEY, "{}"))


def write_json(path: str | Path, obj) -> None:
    """Write `obj` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
