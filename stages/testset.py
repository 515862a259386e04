"""Draw the seeded test subset that every attack and defence is evaluated on: data/sets/clean.safetensors."""

from diffdefense.cli import load_params, run_stage, section
from diffdefense.data import load_split, subset
from diffdefense.errors import check_int_range
from diffdefense.io import save_tensors


def main():
    data = section(load_params(), "data")
    images, labels = load_split("data/raw", data["dataset"], "test")
    # check_params allows no 0 either; `subset` would take it for "all images"
    check_int_range("data.test_size", data["test_size"], 1, len(images))
    idx = subset(len(images), data["test_size"], data["seed"], "data.test_size")
    save_tensors("data/sets/clean.safetensors", {"images": images[idx], "labels": labels[idx], "indices": idx},
                 {"dataset": data["dataset"]})
    print(f"{len(idx)} test images of {data['dataset']}")


if __name__ == "__main__":
    run_stage(main)
