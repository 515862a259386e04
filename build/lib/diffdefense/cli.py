"""Shared plumbing for the stage scripts: params, seeding, and one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from .errors import UsageError


def load_params(path: str | Path = "params.yaml") -> dict:
    """The pipeline's params file as a dict."""
    with open(path) as f:
        return yaml.safe_load(f)


def section(params: dict, *keys: str):
    """params[k1][k2]..., with an error naming the missing key."""
    node = params
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise UsageError(f"params.yaml has no '{'.'.join(keys[:depth + 1])}'")
        node = node[key]
    return node


def run_stage(main) -> None:
    """Run a stage's main(); bad input exits with status 2 and one line on stderr."""
    try:
        main()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
