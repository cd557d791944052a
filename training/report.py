"""The report as PNG files: learning curves, confusion matrices, misclassified digits, the
training samples after canonicalisation, and the per-kind table as Markdown."""

from pathlib import Path

import numpy as np

from app.imaging.pixels import NUM_CLASSES
from training.data import Mnist
from training.dataset import TrainingSet
from training.evaluation import table
from training.results import Evaluation, KindResult

REPORT_FILES = ("learning_curves.png", "confusion_matrix.png", "misclassified.png")
UPLOAD_FILES = ("confusion_uploads.png", "training_samples.png", "evaluation.md")


def write_report(
    folder: Path,
    history: dict[str, list[float]],
    evaluation: Evaluation,
    data: Mnist,
    kinds: dict[str, KindResult] | None = None,
    images: TrainingSet | None = None,
) -> list[Path]:
    """Draw the report images into `folder` (and the per-kind table); return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in REPORT_FILES]
    _learning_curves(history, paths[0])
    _confusion_matrix(np.asarray(evaluation.confusion_matrix), paths[1])
    _misclassified(data, evaluation.predictions, paths[2])
    if kinds:
        others = [r for kind, r in kinds.items() if kind != "mnist" and not r.outlier]
        paths.append(folder / UPLOAD_FILES[0])
        total = np.sum([result.confusion_matrix for result in others], axis=0)
        names = ", ".join(result.kind for result in others)
        _confusion_matrix(total, paths[-1], f"confusion matrix ({names})")
        paths.append(folder / UPLOAD_FILES[2])
        paths[-1].write_text(table({"this model": kinds}) + "\n")
    paths.append(folder / UPLOAD_FILES[1])
    _samples(images, data, paths[-1])
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


def _confusion_matrix(
    confusion: np.ndarray, path: Path, title: str = "confusion matrix (test set)"
) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(NUM_CLASSES)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title, fontsize=9)
    threshold = confusion.max() / 2
    for (row, col), count in np.ndenumerate(confusion):
        color = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=color, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _misclassified(data: Mnist, predictions: np.ndarray, path: Path, limit: int = 40) -> None:
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


def _samples(images: TrainingSet | None, data: Mnist, path: Path, per_part: int = 30) -> None:
    """A few training images of each part, as the network receives them."""
    import matplotlib.pyplot as plt

    parts = images.parts if images is not None else {"mnist": len(data.x_train)}
    x = images.x if images is not None else data.x_train
    y = images.y if images is not None else data.y_train
    rng = np.random.default_rng(0)
    columns = 15
    rows_per_part = -(-per_part // columns)
    fig, axes = plt.subplots(
        rows_per_part * len(parts),
        columns,
        figsize=(columns * 0.8, rows_per_part * len(parts) * 1.0),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    start = 0
    for number, (part, count) in enumerate(parts.items()):
        chosen = np.sort(rng.choice(count, size=min(per_part, count), replace=False)) + start
        cells = axes[number * rows_per_part : (number + 1) * rows_per_part].flat
        for ax, index in zip(cells, chosen, strict=False):
            ax.imshow(x[index], cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"{part} {y[index]}", fontsize=6)
        start += count
    fig.suptitle("training samples after canonicalisation (what the network is fed)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
