"""One exception type for bad user input, and the checks that raise it."""

from __future__ import annotations

import re
from contextlib import contextmanager
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


def check_positive(name: str, value, allow_zero: bool = False) -> None:
    """Raise UsageError naming `name` unless `value` is a number > 0 (>= 0 with allow_zero)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{name}={value!r} is out of range; expected a number {bound}")


def check_number(name: str, value, low: float, high: float) -> None:
    """Raise UsageError naming `name` unless `value` is a number in [low, high]."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
    if not ok:
        raise UsageError(f"{name}={value!r} is out of range; expected a number in [{low:g}, {high:g}]")


@contextmanager
def unknown_keywords_as_usage_error(section: str):
    """Turn a builder's "unexpected keyword argument 'x'" (a misspelt setting) into a UsageError naming
    `section`.x; other TypeErrors are bugs and pass through."""
    try:
        yield
    except TypeError as exc:
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unexpected is None:
            raise
        raise UsageError(f"{section}.{unexpected.group(1)} is not a setting of {section}") from exc


@contextmanager
def settings_of(section: str):
    """Name the params section a library object is built from: its errors, which name its own arguments
    (`L=0 is out of range`, right for a Python caller), become errors about `section`.L, and a misspelt
    setting becomes one naming `section`."""
    with unknown_keywords_as_usage_error(section):
        try:
            yield
        except UsageError as exc:
            if not re.match(r"\w+=", str(exc)):
                raise
            raise UsageError(f"{section}.{exc}") from exc
