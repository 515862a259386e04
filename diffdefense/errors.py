"""One exception type for bad user input, and the checks that raise it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


class UsageError(Exception):
    """A bad param or a missing input: reported as one line, never as a traceback."""


def check_one_of(name: str, value, allowed: Iterable) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise UsageError(f"{name}={value!r} is not allowed; choose one of {allowed}")


def check_int_range(name: str, value, low: int, high: int | None = None) -> None:
    upper = "" if high is None else f", {high}"
    allowed = f"an integer in [{low}{upper}]" if high is not None else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise UsageError(f"{name}={value!r} is out of range; expected {allowed}")


def check_positive(name: str, value, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{name}={value!r} is out of range; expected a number {bound}")


def check_exists(path: str | Path, made_by: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"missing input {path}; it is made by the '{made_by}' stage (run `dvc repro {made_by}`)")
    return path
