"""Shared plumbing for the stage scripts: params, one-line errors, clean exits on SIGTERM."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import yaml

from .errors import UsageError


def load_params(path: str | Path = "params.yaml") -> dict:
    """The pipeline's params file as a dict. The check_params stage, upstream of every other, checks it as a
    whole (diffdefense.params): stages do not, so that they import only what they use, which keeps each
    stage's import closure, and so its declared deps, its own."""
    try:
        with open(path) as f:
            params = yaml.safe_load(f)
    except OSError as exc:
        raise UsageError(f"cannot read {Path(path).resolve()}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    return params


def section(params: dict, *keys: str):
    """params[k1][k2]..., with an error naming the missing key."""
    node = params
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise UsageError(f"params.yaml has no '{'.'.join(keys[:depth + 1])}'")
        node = node[key]
    return node


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so atomic writers remove their temporary files


def run_stage(main) -> None:
    """Run a stage's main(); bad input exits with status 2 and one line on stderr. SIGTERM unwinds the
    stack like SIGINT, so no temporary output is left behind (SIGKILL's leftovers are ignored by DVC:
    see io.TMP_SUFFIX and .dvcignore)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
