"""Figures the pipeline writes as PNG: image grids (Fig. 2), the ablation curves (Fig. 3) and the
detection ROC curves (Fig. 4)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from .io import atomic_path  # noqa: E402

AXIS_NAMES = {"t_star": "diffusion steps T*", "L": "iterations L", "R": "random starts R"}


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:
    """Write `fig` to `path` as PNG atomically (no half-written file on failure) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def as_picture(image: torch.Tensor) -> dict:
    """imshow arguments for one C x H x W image in [0, 1]: grey for one channel, colour for three."""
    if image.shape[0] == 1:
        return {"X": image[0].cpu().numpy(), "cmap": "gray", "vmin": 0, "vmax": 1}
    return {"X": image.permute(1, 2, 0).cpu().numpy()}


def image_grid(rows: dict[str, torch.Tensor], path: str | Path, title: str,
               predictions: dict[str, list[int]] | None = None, labels: list[int] | None = None) -> None:
    """One row of images per entry of `rows` (name -> N x C x H x W in [0, 1]); above each image, the
    classifier's prediction from `predictions`, in red where it differs from `labels`."""
    n = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows) + 0.4), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(images):
                ax.imshow(**as_picture(images[c]))
                if predictions and label in predictions:
                    guess = predictions[label][c]
                    wrong = labels is not None and guess != labels[c]
                    ax.set_title(str(guess), fontsize=8, pad=2, color="red" if wrong else "black")
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def ablation_figure(rows: pd.DataFrame, base: dict, path: str | Path) -> None:
    """Accuracy (top) and seconds per image (bottom) against each varied setting, one line per set."""
    varied = list(dict.fromkeys(rows.varied))
    fig, axes = plt.subplots(2, len(varied), figsize=(4.2 * len(varied), 6.5), squeeze=False, sharey="row")
    for c, name in enumerate(varied):
        part = rows[rows.varied == name].sort_values("value")
        for set_name, group in part.groupby("set", sort=False):
            line, = axes[0][c].plot(group.value, group.accuracy, marker="o", label=set_name)
            if "ci_low" in group:  # the 95 % interval of each accuracy
                axes[0][c].fill_between(group.value, group.ci_low, group.ci_high, color=line.get_color(), alpha=0.12)
            axes[1][c].plot(group.value, group.seconds_per_image, marker="o", label=set_name)
        others = ", ".join(f"{k}={base[k]}" for k in AXIS_NAMES if k != name)
        axes[0][c].set(title=f"{AXIS_NAMES.get(name, name)} ({others})", ylabel="accuracy of A (%)" if c == 0 else None,
                       ylim=(0, 101))
        axes[1][c].set(xlabel=AXIS_NAMES.get(name, name), ylabel="seconds per image" if c == 0 else None)
        for ax in axes[:, c]:
            ax.axvline(base[name], color="grey", linewidth=0.6, linestyle=":")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("DiffDefense: one setting varied at a time (dotted: the default; bands: 95 % intervals)")
    fig.tight_layout()
    save_figure(fig, path)


def roc_figure(results: dict[str, dict[str, dict]], path: str | Path, max_fpr: float) -> None:
    """One panel per defence, one ROC curve per attacked set: `results` maps defence -> set -> the
    output of evaluation.detection (fpr, tpr, auc); a vertical line marks `max_fpr`."""
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 5), squeeze=False)
    for (defence, by_set), ax in zip(results.items(), axes[0]):
        for name, result in by_set.items():
            ax.plot(result["fpr"], result["tpr"], label=f"{name} (AUC {result['auc']:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.axvline(max_fpr, color="grey", linewidth=0.5)
        ax.set(title=f"Detection by reconstruction error: {defence}", xlabel="false positive rate",
               ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)
