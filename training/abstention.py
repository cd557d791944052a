"""Outlier Exposure's other half: the abstention threshold, calibrated on held-out images.

The service answers "not a digit" when a model's highest probability is below its card's
`abstention.threshold` (app.inference.abstention). The threshold is the quantile of held-out
MNIST digits' highest probabilities at the wanted false-refusal rate; how well it then separates
outliers (share refused, AUROC) is measured on held-out outliers, never on training images.
"""

import numpy as np
from numpy.typing import NDArray

SCORE = "max_probability"


def auroc(digits: NDArray[np.floating], outliers: NDArray[np.floating]) -> float:
    """Probability that a digit's score beats an outlier's (ties count half): the area under the
    ROC curve of telling digits from outliers by the score."""
    if not len(digits) or not len(outliers):
        return float("nan")
    scores = np.concatenate([digits, outliers])
    order = scores.argsort(kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores), np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # tied scores share a rank
    digit_ranks = ranks[: len(digits)].sum()
    n, m = len(digits), len(outliers)
    return float((digit_ranks - n * (n + 1) / 2) / (n * m))


def calibrate(
    digits: NDArray[np.floating],
    outliers: NDArray[np.floating],
    false_refusal: float,
    described: dict[str, str],
) -> dict[str, object]:
    """The card's `abstention` record from held-out probabilities (N, 10) of digits and of
    outliers: the threshold refusing `false_refusal` of the digits, and what it does."""
    digit_scores, outlier_scores = digits.max(axis=1), outliers.max(axis=1)
    threshold = float(np.quantile(digit_scores, false_refusal))
    threshold = float(np.clip(threshold, 1e-6, 1 - 1e-6))
    return {
        "threshold": round(threshold, 6),
        "score": SCORE,
        "target_false_refusal": false_refusal,
        "calibrated_on": described,
        "digits": len(digit_scores),
        "outliers": len(outlier_scores),
        "false_refusal": round(float((digit_scores < threshold).mean()), 6),
        "outliers_refused": round(float((outlier_scores < threshold).mean()), 6),
        "outliers_confident": round(float((outlier_scores >= 0.9).mean()), 6),
        "auroc": round(auroc(digit_scores, outlier_scores), 6),
    }
