"""What evaluating a model yields; shared by training.train, training.evaluation and the report."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    correct: int
    incorrect: int
    per_class_accuracy: list[float]
    confusion_matrix: list[list[int]]
    predictions: np.ndarray


@dataclass(frozen=True)
class KindResult:
    """Accuracy of a model on one kind of upload."""

    kind: str
    description: str
    count: int
    correct: int
    confusion_matrix: list[list[int]]  # rows: true digit, columns: predicted digit
    per_family: dict[str, float] | None = None  # typed kinds: accuracy per held-out font family
    refused: int = 0  # answered "not a digit" (or refused by the service)
    outlier: bool = False  # not digits: `correct` counts the refused ones
    confident: int = 0  # outliers answered with a digit at probability >= 0.9
    auroc: float | None = None  # outliers: telling MNIST test digits from them by the score

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else 0.0


def confusion(truth: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    """Rows: true class, columns: predicted class; int64 counts."""
    cells = classes * truth.astype(np.int64) + predictions.astype(np.int64)
    return np.bincount(cells, minlength=classes * classes).reshape(classes, classes)
