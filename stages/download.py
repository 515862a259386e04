"""Fetch and verify the raw IDX files of params data.dataset into data/raw/."""

from pathlib import Path

from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import fetch
from diffdefense.io import atomic_dir

OUT = Path("data/raw")


def main():
    dataset = section(load_params(), "data", "dataset")
    with atomic_dir(OUT) as tmp:
        for path in fetch(dataset, tmp):
            print(f"verified {path.name}")


if __name__ == "__main__":
    run_stage(main)
