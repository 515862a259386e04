"""Fig. 2: for every set fed to A, the first grids.images clean, attacked and purified images with A's
predictions: plots/grids/<set>.png (DVC image plots)."""

from diffdefense.cli import load_params, run_stage, section
from diffdefense.errors import check_int_range
from diffdefense.evaluation import predict
from diffdefense.figures import image_grid
from diffdefense.io import atomic_dir, load_tensors
from diffdefense.models import load_classifier
from diffdefense.pipeline import DEFENDED_CLASSIFIER, DEFENDED_DIR, MODELS_DIR, SETS_DIR, defended_sets, made_by


def main():
    params = load_params()
    count = section(params, "grids", "images")
    check_int_range("grids.images", count, 1, 50)
    defences = section(params, "defend", "defences")
    classifier = load_classifier(DEFENDED_CLASSIFIER, MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors")
    clean, _ = load_tensors(SETS_DIR / "clean.safetensors", "testset")
    labels = clean["labels"][:count]
    with atomic_dir("plots/grids") as out:
        for name in defended_sets(section(params, "attack")):
            rows = {"clean": clean["images"][:count]}
            if name != "clean":
                rows[name] = load_tensors(SETS_DIR / f"{name}.safetensors", made_by(name))[0]["images"][:count]
            for defence in defences:
                purified = load_tensors(DEFENDED_DIR / defence / f"{name}.safetensors", f"defend@{defence}")[0]
                rows[f"{defence}"] = purified["images"][:count]
            predictions = {label: predict(classifier, images).tolist() for label, images in rows.items()}
            image_grid(rows, out / f"{name}.png", f"{name}: A's prediction above each image (red: wrong)",
                       predictions, labels.tolist())
            print(f"plots/grids/{name}.png")


if __name__ == "__main__":
    run_stage(main)
