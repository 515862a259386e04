"""DiffDefense with one of T*, L, R varied at a time (the others at defend.diffdefense), on the first
ablation.images images of each set in ablation.sets: accuracy of A and seconds per image (Fig. 3).
Writes plots/ablation_<param>.csv, plots/ablation.png and metrics/ablation.json."""

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from diffdefense.ablation import sweep  # noqa: E402
from diffdefense.cli import load_params, run_stage, section  # noqa: E402
from diffdefense.defences import DefenceContext, build_defence  # noqa: E402
from diffdefense.device import resolve_device  # noqa: E402
from diffdefense.errors import check_int_range, check_one_of  # noqa: E402
from diffdefense.evaluation import summary  # noqa: E402
from diffdefense.figures import ablation_figure  # noqa: E402
from diffdefense.io import load_tensors, write_csv, write_json  # noqa: E402
from diffdefense.models import load_classifier, load_ddpm  # noqa: E402
from diffdefense.pipeline import DEFENDED_CLASSIFIER, MODELS_DIR, SETS_DIR, attack_sets, made_by  # noqa: E402
from diffdefense.seeding import seed_everything  # noqa: E402

SWEPT = ("t_star", "L", "R")


def main():
    params = load_params()
    cfg = section(params, "ablation")
    allowed = ["clean", *(n for n, s in attack_sets(section(params, "attack")).items() if s.evaluated_on == "A")]
    for name in cfg["sets"]:
        check_one_of("ablation.sets", name, allowed)
    _, schedule = load_ddpm(MODELS_DIR / "ddpm.safetensors")
    for value in cfg["t_star"]:  # T* is bounded by the schedule the DDPM was trained with
        check_int_range("ablation.t_star", value, 1, schedule.num_steps)
    sets = {}
    for name in cfg["sets"]:
        tensors, _ = load_tensors(SETS_DIR / f"{name}.safetensors", made_by(name))
        check_int_range("ablation.images", cfg["images"], 1, len(tensors["images"]))
        sets[name] = (tensors["images"][:cfg["images"]], tensors["labels"][:cfg["images"]])
    device = resolve_device(params["device"])
    seed_everything(0)  # DiffDefense seeds per image from defend.diffdefense.seed; this covers anything else
    ctx = DefenceContext(MODELS_DIR, device, section(params, "defend", "batch_size"))
    classifier = load_classifier(DEFENDED_CLASSIFIER, MODELS_DIR / f"classifier_{DEFENDED_CLASSIFIER}.safetensors", device)
    base = section(params, "defend", "diffdefense")

    rows = pd.DataFrame(sweep(lambda settings: build_defence("diffdefense", settings, ctx), classifier, sets, base,
                              {name: cfg[name] for name in SWEPT}, section(params, "statistics", "confidence"),
                              variants=cfg["variants"]))
    for name in SWEPT:
        write_csv(f"plots/ablation_{name}.csv",
                  rows[rows.varied == name].drop(columns="varied").rename(columns={"value": name}))
    # the variants' values are names, so the swept rows' numbers come out as objects: plot them as numbers
    ablation_figure(rows[rows.varied != "variant"].astype({"value": float}), base, "plots/ablation.png")
    accuracy = {}
    for r in rows.to_dict("records"):
        accuracy.setdefault(r["varied"], {}).setdefault(r["set"], {})[str(r["value"])] = summary(r)
    write_json("metrics/ablation.json", {"images_per_set": cfg["images"], "base": {k: base[k] for k in SWEPT},
                                         "accuracy": accuracy})
    print(rows.to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
