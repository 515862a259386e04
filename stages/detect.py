"""Attack detection from reconstruction error (Fig. 4): per defence and attacked set, ROC curve, AUC and
TPR at 5% FPR against the clean subset. Writes metrics/detection.json, plots/roc.csv and plots/roc.png."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from diffdefense.cli import load_params, run_stage, section  # noqa: E402
from diffdefense.evaluation import detection  # noqa: E402
from diffdefense.io import atomic_path, load_tensors, write_csv, write_json  # noqa: E402
from diffdefense.pipeline import DEFENDED_DIR, defended_sets  # noqa: E402

MAX_FPR = 0.05


def main():
    params = load_params()
    attacked = [s for s in defended_sets(section(params, "attack")) if s != "clean"]
    defences = section(params, "defend", "defences")
    metrics, curves = {}, []
    fig, axes = plt.subplots(1, len(defences), figsize=(5.5 * len(defences), 5), squeeze=False)
    for defence, ax in zip(defences, axes[0]):
        def errors(name):
            return load_tensors(DEFENDED_DIR / defence / f"{name}.safetensors", f"defend@{defence}")[0]["recon_error"]

        clean = errors("clean")
        metrics[defence] = {}
        for name in attacked:
            result = detection(clean, errors(name), MAX_FPR)
            metrics[defence][name] = {"auc": round(result["auc"], 4), "tpr_at_5pct_fpr": round(result["tpr_at_fpr"], 4)}
            curves += [{"defence": defence, "set": name, "step": i, "fpr": f, "tpr": t}
                       for i, (f, t) in enumerate(zip(result["fpr"], result["tpr"]))]
            ax.plot(result["fpr"], result["tpr"], label=f"{name} (AUC {result['auc']:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.axvline(MAX_FPR, color="grey", linewidth=0.5)
        ax.set(title=f"Detection by reconstruction error: {defence}", xlabel="false positive rate",
               ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower right", fontsize=8)
    write_json("metrics/detection.json", metrics)
    write_csv("plots/roc.csv", pd.DataFrame(curves))
    fig.tight_layout()
    with atomic_path("plots/roc.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    print(pd.DataFrame([{"defence": d, "set": s} | m for d, sets in metrics.items() for s, m in sets.items()])
          .to_string(index=False))


if __name__ == "__main__":
    run_stage(main)
