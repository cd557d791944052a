"""The tutorial's pictures as PNG files: learning curves, confusion matrix, misclassified digits."""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.imaging.pixels import NUM_CLASSES

if TYPE_CHECKING:
    from training.data import Mnist
    from training.train import Evaluation

REPORT_FILES = ("learning_curves.png", "confusion_matrix.png", "misclassified.png")


def write_report(
    folder: Path, history: dict[str, list[float]], evaluation: "Evaluation", data: "Mnist"
) -> list[Path]:
    """Draw the three report images into `folder`; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in REPORT_FILES]
    _learning_curves(history, paths[0])
    _confusion_matrix(np.asarray(evaluation.confusion_matrix), paths[1])
    _misclassified(data, evaluation.predictions, paths[2])
    return paths


def _learning_curves(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        ax.set_title(f"model {metric}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _confusion_matrix(confusion: np.ndarray, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(NUM_CLASSES)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title("confusion matrix (test set)")
    threshold = confusion.max() / 2
    for (row, col), count in np.ndenumerate(confusion):
        color = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=color, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _misclassified(data: "Mnist", predictions: np.ndarray, path: Path, limit: int = 40) -> None:
    import matplotlib.pyplot as plt

    wrong = np.flatnonzero(predictions != data.y_test)[:limit]
    columns = 10
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong, strict=False):
        ax.imshow(data.x_test[index], cmap="gray")
        ax.set_title(f"#{index}\ntrue {data.y_test[index]} pred {predictions[index]}", fontsize=7)
    fig.suptitle(f"misclassified test digits (first {len(wrong)})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
