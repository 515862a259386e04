"""One exception type for bad user input, and the checks that raise it."""

from __future__ import annotations

import re
from typing import Iterable


class UsageError(Exception):
    """A bad param or a missing input: reported as one line, never as a traceback."""


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # names that become file names under data/, plots/


def check_name(name: str, value) -> None:
    """UsageError unless `value` is safe as a file name: 1-64 letters, digits, '-' or '_'."""
    if not isinstance(value, str) or not SAFE_NAME.match(value):
        raise UsageError(f"{name}={value!r} is not a safe name; use 1-64 letters, digits, '-' or '_', "
                         "starting with a letter or digit")


def check_one_of(name: str, value, allowed: Iterable) -> None:
    """Raise UsageError naming `name` unless `value` is one of `allowed`."""
    allowed = list(allowed)
    if value not in allowed:
        raise UsageError(f"{name}={value!r} is not allowed; choose one of {allowed}")


def check_int_range(name: str, value, low: int, high: int | None = None) -> None:
    """Raise UsageError naming `name` unless `value` is an integer in [low, high] (no upper bound if None)."""
    upper = "" if high is None else f", {high}"
    allowed = f"an integer in [{low}{upper}]" if high is not None else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise UsageError(f"{name}={value!r} is out of range; expected {allowed}")


def check_number(name: str, value, low: float, high: float | None = None, *, open_low: bool = False,
                 open_high: bool = False) -> None:
    """Raise UsageError naming `name` unless `value` is a number between `low` and `high` (no upper bound if
    None), each bound allowed unless marked open."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > low if open_low else value >= low)
    if high is not None:
        ok = ok and (value < high if open_high else value <= high)
    if not ok:
        allowed = (f"a number in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
                   if high is not None else f"a number {'>' if open_low else '>='} {low:g}")
        raise UsageError(f"{name}={value!r} is out of range; expected {allowed}")


def check_positive(name: str, value, allow_zero: bool = False) -> None:
    """Raise UsageError naming `name` unless `value` is a number > 0 (>= 0 with allow_zero)."""
    check_number(name, value, 0, open_low=not allow_zero)
