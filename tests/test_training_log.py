"""The training stages' dvclive log: one TSV row per epoch, the last epoch and the final evaluation in
metrics.json, written as each epoch ends."""

import json
import subprocess

import pandas as pd
import pytest

from diffdefense.training_log import TrainingLog


def test_each_epoch_is_a_row_and_the_summary_holds_the_last_epoch_and_the_final_values(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.5, "seconds": 2.0}, {"epoch": 2, "train_loss": 0.25, "seconds": 1.5}]
    with TrainingLog(tmp_path / "log") as log:
        log.epoch(rows[0])
        # written as the epoch ends: `dvc exp show` sees a stage that is still training
        assert json.loads((tmp_path / "log/metrics.json").read_text())["train_loss"] == 0.5
        log.epoch(rows[1])
        log.finish(test={"accuracy": 99.0, "images": 10}, threads=2)
    loss = pd.read_csv(tmp_path / "log/plots/metrics/train_loss.tsv", sep="\t")
    assert loss.to_dict("list") == {"step": [1, 2], "train_loss": [0.5, 0.25]}
    summary = json.loads((tmp_path / "log/metrics.json").read_text())
    assert summary == {"train_loss": 0.25, "seconds": 1.5, "step": 2, "test": {"accuracy": 99.0, "images": 10},
                       "threads": 2}
    # nothing else: no dvc.yaml, report or experiment of its own
    assert sorted(p.relative_to(tmp_path / "log").as_posix() for p in (tmp_path / "log").rglob("*") if p.is_file()) \
        == ["metrics.json", "plots/metrics/seconds.tsv", "plots/metrics/train_loss.tsv"]


@pytest.mark.parametrize("git", ["none", "no commits", "one commit"])
def test_the_log_does_not_depend_on_the_git_repository_it_is_written_in(tmp_path, monkeypatch, git):
    # dvclive's own repository probe raised "Empty git repo" in a `git init`-ed folder with no commits
    if git != "none":
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    if git == "one commit":
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
                        "-m", "start"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    with TrainingLog("log") as log:
        log.epoch({"epoch": 1, "train_loss": 0.5})
    assert json.loads((tmp_path / "log/metrics.json").read_text()) == {"train_loss": 0.5, "step": 1}
