"""Attack detection from reconstruction error (Fig. 4): per defence and attacked set, ROC curve, AUC and
TPR at 5% FPR against the clean subset, the AUC with a bootstrap interval over the images
(params statistics). Writes metrics/detection.json, plots/roc.csv and plots/roc.png."""

import pandas as pd

from diffdefense.cli import load_params, run_stage, section
from diffdefense.evaluation import detection
from diffdefense.figures import roc_figure
from diffdefense.io import load_tensors, write_csv, write_json
from diffdefense.pipeline import DEFENDED_DIR, defended_sets

MAX_FPR = 0.05


def main():
    params = load_params()
    stats = section(params, "statistics")
    attacked = [s for s in defended_sets(section(params, "attack")) if s != "clean"]
    results = {}
    for defence in section(params, "defend", "defences"):
        def errors(name):
            return load_tensors(DEFENDED_DIR / defence / f"{name}.safetensors", f"defend@{defence}")[0]["recon_error"]

        clean = errors("clean")
        results[defence] = {name: detection(clean, errors(name), MAX_FPR, confidence=stats["confidence"],
                                            resamples=stats["bootstrap_resamples"], seed=stats["seed"])
                            for name in attacked}
    metrics = {defence: {name: {"auc": round(r["auc"], 4), "auc_ci_low": round(r["auc_ci_low"], 4),
                                "auc_ci_high": round(r["auc_ci_high"], 4), "clean_images": r["clean_images"],
                                "attacked_images": r["attacked_images"],
                                "tpr_at_5pct_fpr": round(r["tpr_at_fpr"], 4)}
                         for name, r in by_set.items()} for defence, by_set in results.items()}
    curves = [{"defence": defence, "set": name, "step": i, "fpr": f, "tpr": t}
              for defence, by_set in results.items() for name, r in by_set.items()
              for i, (f, t) in enumerate(zip(r["fpr"], r["tpr"]))]
    write_json("metrics/detection.json", metrics)
    write_csv("plots/roc.csv", pd.DataFrame(curves))
    roc_figure(results, "plots/roc.png", MAX_FPR)
    print(pd.DataFrame([{"defence": d, "set": s} | m for d, sets in metrics.items() for s, m in sets.items()])
          .to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
