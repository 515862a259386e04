"""Training curves the way DVC users read them: dvclive writes each epoch as it ends, so `dvc plots show`
draws the curves and `dvc exp show` lists the final values (also while a stage is still training)."""

from __future__ import annotations

from pathlib import Path

from dvclive import Live


class _FilesOnly(Live):
    """dvclive's writer without its DVC hooks. The pipeline's dvc.yaml declares these files and the log makes
    no experiment, dvc.yaml or report of its own, so nothing needs the repository; and dvclive's probe of it
    fails in a git repository with no commits yet (scmrepo's "Empty git repo" escapes its DVC error
    handling), which would stop `dvc repro` there."""

    def _init_dvc(self):
        pass


class TrainingLog:
    """A dvclive log in `directory`: plots/metrics/<metric>.tsv (one row per epoch, x = `step` = the epoch
    number) and metrics.json (the last epoch's values, then what `finish` adds). Used as a context manager;
    `epoch` is the callback the training loops take."""

    def __init__(self, directory: str | Path):
        self.live = _FilesOnly(str(directory), save_dvc_exp=False, dvcyaml=None, report=None)

    def epoch(self, row: dict) -> None:
        """Record one epoch's row ({"epoch": n, metric: value, ...})."""
        self.live.step = row["epoch"]
        for name, value in row.items():
            if name != "epoch":
                self.live.log_metric(name, value)
        self.live.make_summary()

    def finish(self, **summary) -> None:
        """Add `summary` (final evaluations, threads) to metrics.json."""
        self.live.summary |= summary
        self.live.make_summary()

    def __enter__(self) -> "TrainingLog":
        return self

    def __exit__(self, *_) -> None:
        self.live.end()
