"""The one verdict on an answer: a digit, or not a digit and why (Outlier Exposure abstention).

Pure: every route (/predict, /predict/batch, /v2) asks `verdict` for each row it answers.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Reason = Literal["low_confidence", "no_digit_shape"]
LOW_CONFIDENCE: Reason = "low_confidence"
NO_DIGIT_SHAPE: Reason = "no_digit_shape"
REASONS: tuple[Reason, ...] = (LOW_CONFIDENCE, NO_DIGIT_SHAPE)


@dataclass(frozen=True)
class NotADigit:
    reason: Reason  # machine-readable
    detail: str  # for a person: what was measured against what


def verdict(
    probabilities: NDArray[np.float32], refusal: str | None, threshold: float | None
) -> NotADigit | None:
    """None (a digit) or why the image is not one, from one row's 10 probabilities, the image
    pipeline's refusal (None: it found a digit shape, or did not look) and the version's
    effective threshold (None: this version never abstains, whatever the pipeline said)."""
    if threshold is None:
        return None
    if refusal is not None:
        return NotADigit(NO_DIGIT_SHAPE, f"no digit shape in the image: {refusal}")
    best = float(np.max(probabilities))
    if best < threshold:
        shown, limit = _distinct(best, threshold)
        return NotADigit(
            LOW_CONFIDENCE,
            f"the highest probability, {shown}, is below this model's threshold {limit}",
        )
    return None


def _distinct(value: float, threshold: float) -> tuple[str, str]:
    """Both with 2 decimals, or with as many more (up to 8) as it takes to tell them apart."""
    for places in range(2, 9):
        pair = f"{value:.{places}f}", f"{threshold:.{places}f}"
        if pair[0] != pair[1]:
            return pair
    return pair
