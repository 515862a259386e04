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


def test_paired_by_set_counts_each_sets_discordant_images():
    import torch

    from diffdefense.run_comparison import paired_by_set

    first = {"clean": torch.tensor([1, 1, 1, 0], dtype=torch.bool), "pgd": torch.tensor([1, 0, 0, 0], dtype=torch.bool)}
    second = {"clean": torch.tensor([1, 1, 0, 1], dtype=torch.bool), "pgd": torch.tensor([1, 0, 0, 0], dtype=torch.bool)}
    rows = {row["set"]: row for row in paired_by_set(first, second, labels=("fp32", "bf16"))}
    assert list(rows) == ["clean", "pgd", "all sets"]
    assert (rows["clean"]["only_fp32"], rows["clean"]["only_bf16"]) == (1, 1)
    assert (rows["pgd"]["only_fp32"], rows["pgd"]["only_bf16"], rows["pgd"]["p_value"]) == (0, 0, 1.0)
    assert rows["all sets"]["images"] == 8 and rows["all sets"]["fp32"]["accuracy"] == 50.0


def test_compare_defended_pairs_two_runs_images(tmp_path, monkeypatch, capsys):
    import pytest
    import torch

    from diffdefense.io import save_tensors
    from diffdefense.models import build_classifier, save_weights
    from scripts import compare_defended

    torch.manual_seed(0)
    images, labels = torch.rand(6, 1, 28, 28), torch.arange(6) % 10
    for run in ("a", "b"):
        save_weights(build_classifier("A"), tmp_path / run / "models/classifier_A.safetensors")
        save_tensors(tmp_path / run / "data/sets/clean.safetensors", {"images": images, "labels": labels})
        save_tensors(tmp_path / run / "data/defended/diffdefense/clean.safetensors", {"images": images})
    monkeypatch.setattr("sys.argv", ["compare_defended", str(tmp_path / "a"), str(tmp_path / "b"),
                                     "--labels", "fp32", "bf16", "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_:
        compare_defended.main()
    assert exit_.value.code == 0  # the same images: no discordant image, p 1.0
    table = (tmp_path / "out/sets.csv").read_text()
    assert table.splitlines()[0].startswith("set,images,fp32,bf16,only_fp32,only_bf16,p_value")
    assert "clean,6," in table and "all sets,6," in table
    (tmp_path / "a/data/defended/diffdefense/clean.safetensors").unlink()
    with pytest.raises(SystemExit) as exit_:
        compare_defended.main()
    assert "must hold the same purified sets" in str(exit_.value.code)
