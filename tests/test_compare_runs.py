"""scripts/compare_runs.py judges metrics that differ in bytes by their intervals."""

import json

from diffdefense.statistics import accuracy_interval
from scripts.compare_runs import outside_intervals


def test_accuracies_are_judged_by_each_others_intervals(tmp_path):
    def write(name, correct):
        path = tmp_path / name
        path.write_text(json.dumps({"rows": {"A": {"test": accuracy_interval(correct, 200)}},
                                    "seconds": 1.0, "loss": correct / 1000}))
        return path

    base = write("base.json", 180)
    assert outside_intervals(base, write("near.json", 176)) == []  # 88 % inside [84.4, 92.2] and back
    assert outside_intervals(base, write("far.json", 150)) == ["rows/A/test"]
    (tmp_path / "plain.json").write_text(json.dumps({"loss": 0.1}))
    assert outside_intervals(base, tmp_path / "plain.json") is None  # nothing to judge by
    assert outside_intervals(base, tmp_path / "missing.json") is None
