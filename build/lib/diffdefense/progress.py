"""Progress bars that stay readable in logs: frequent on a terminal, every 30 s when redirected."""

import sys

from tqdm.auto import tqdm


def progress(iterable=None, **kwargs):
    """tqdm with a refresh interval suited to the output (terminal or log file)."""
    return tqdm(iterable, mininterval=0.2 if sys.stderr.isatty() else 30.0, **kwargs)
