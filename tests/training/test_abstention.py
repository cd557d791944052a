"""training.abstention: the AUROC, and the threshold calibrated on held-out digits."""

import numpy as np
import pytest

from training.abstention import auroc, calibrate


def brute_auroc(digits: np.ndarray, outliers: np.ndarray) -> float:
    wins = (digits[:, None] > outliers[None, :]) + 0.5 * (digits[:, None] == outliers[None, :])
    return float(wins.mean())


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_pairwise_comparison(seed: int) -> None:
    rng = np.random.default_rng(seed)
    digits = np.round(rng.random(300), 2)  # rounded: many ties
    outliers = np.round(rng.random(200) * 0.7, 2)
    assert auroc(digits, outliers) == pytest.approx(brute_auroc(digits, outliers))


@pytest.mark.parametrize(
    ("digits", "outliers", "expected"),
    [([0.9, 1.0], [0.1, 0.2], 1.0), ([0.1, 0.2], [0.9, 1.0], 0.0), ([0.5], [0.5], 0.5)],
)
def test_auroc_edge_cases(digits: list[float], outliers: list[float], expected: float) -> None:
    assert auroc(np.array(digits), np.array(outliers)) == pytest.approx(expected)


def test_auroc_without_one_side_is_nan() -> None:
    assert np.isnan(auroc(np.array([0.9]), np.array([])))


def probabilities(top: np.ndarray) -> np.ndarray:
    """(N, 10) rows whose highest probability is `top` (the rest spread evenly)."""
    rest = (1 - top) / 9
    rows = np.repeat(rest[:, None], 10, axis=1)
    rows[:, 3] = top
    return rows


def test_calibrate_refuses_the_target_share_of_digits() -> None:
    rng = np.random.default_rng(0)
    digits = probabilities(1 - rng.random(10_000) ** 8 * 0.8)
    outliers = probabilities(0.1 + rng.random(2_000) * 0.5)
    record = calibrate(digits, outliers, 0.005, {"digits": "test"})
    assert record["false_refusal"] == pytest.approx(0.005, abs=0.001)
    assert 0 < record["threshold"] < 1
    assert record["score"] == "max_probability"
    assert record["outliers_refused"] == pytest.approx(
        float((outliers.max(axis=1) < record["threshold"]).mean()), abs=1e-6
    )
    assert record["calibrated_on"] == {"digits": "test"}


def test_calibrate_on_separable_scores_refuses_every_outlier() -> None:
    digits = probabilities(np.linspace(0.95, 1.0, 1000))
    outliers = probabilities(np.linspace(0.1, 0.5, 100))
    record = calibrate(digits, outliers, 0.003, {})
    assert record["outliers_refused"] == 1.0
    assert record["outliers_confident"] == 0.0
    assert record["auroc"] == 1.0
