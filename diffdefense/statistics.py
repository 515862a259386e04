"""Error bars: every accuracy with its image count and a Wilson interval, every AUC with a bootstrap interval
over the test images (scipy.stats), so a difference smaller than the interval is not read as a finding."""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, stats
from sklearn.metrics import roc_auc_score

CONFIDENCE = 0.95  # params statistics.confidence overrides it in the pipeline


def accuracy_interval(correct: int, images: int, confidence: float = CONFIDENCE) -> dict:
    """Accuracy in percent of `correct` out of `images`, with the Wilson score interval (in percent)."""
    if images == 0:
        return {"accuracy": None, "images": 0, "ci_low": None, "ci_high": None}
    ci = stats.binomtest(int(correct), int(images)).proportion_ci(confidence_level=confidence, method="wilson")
    return {"accuracy": round(100.0 * correct / images, 2), "images": int(images),
            "ci_low": round(100.0 * ci.low, 2), "ci_high": round(100.0 * ci.high, 2)}


def summarise(correct: torch.Tensor, confidence: float = CONFIDENCE) -> dict:
    """`accuracy_interval` of a boolean per-image correctness tensor."""
    return accuracy_interval(int(correct.sum()), len(correct), confidence)


def mcnemar(first: torch.Tensor, second: torch.Tensor) -> dict:
    """Exact McNemar test of two defences' per-image correctness on the same images: the images only one
    of them gets right, and the two-sided binomial p-value of that split under "equally accurate"."""
    first, second = first.bool(), second.bool()
    only_first, only_second = int((first & ~second).sum()), int((~first & second).sum())
    discordant = only_first + only_second
    p_value = stats.binomtest(only_first, discordant).pvalue if discordant else 1.0
    return {"images": len(first), "both": int((first & second).sum()), "only_first": only_first,
            "only_second": only_second, "p_value": round(float(p_value), 4),
            "detectable_difference": mcnemar_detectable_difference(len(first), discordant)}


def mcnemar_detectable_difference(images: int, discordant: int, alpha: float = 0.05,
                                  power: float = 0.8) -> float | None:
    """The smallest difference in accuracy (percentage points) that a McNemar test on `images` paired
    images detects with probability `power` at level `alpha`, when `discordant` of them are scored
    differently by the two (Connor, 1987: n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2, psi the
    discordant share; psi is taken as at least one image, so "no discordant image seen" still has a size).
    None when no difference, however large, is detectable at this size."""
    if images == 0:
        return None
    psi = max(discordant, 1) / images
    z_alpha, z_power = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)

    def images_needed(d):
        return (z_alpha * np.sqrt(psi) + z_power * np.sqrt(max(psi - d * d, 0.0))) ** 2 / (d * d)

    if images_needed(psi) > images:  # even the largest possible difference (every discordant image one way)
        return None
    return round(100.0 * optimize.brentq(lambda d: images_needed(d) - images, 1e-9, psi), 2)


def auc_interval(negatives: np.ndarray, positives: np.ndarray, *, confidence: float = CONFIDENCE,
                 resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC AUC of scores `positives` against `negatives`, resampling
    each group's images independently."""
    def auc(neg, pos, axis=-1):
        return np.apply_along_axis(lambda row: roc_auc_score(
            np.r_[np.zeros(neg.shape[-1]), np.ones(pos.shape[-1])], row), -1, np.concatenate([neg, pos], -1))

    result = stats.bootstrap((np.asarray(negatives), np.asarray(positives)), auc, n_resamples=resamples,
                             confidence_level=confidence, method="percentile", vectorized=True,
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def outside(reference: float | None, summary: dict | None) -> bool:
    """Whether a reference number (the paper's) lies outside our interval."""
    if reference is None or not summary or summary.get("ci_low") is None:
        return False
    return not summary["ci_low"] <= reference <= summary["ci_high"]
