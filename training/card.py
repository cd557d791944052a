"""The JSON model card: identity, provenance, recipe, fonts, results per kind of upload, history."""

import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.imaging.pixels import NUM_CLASSES
from training.config import TrainConfig
from training.data import Mnist
from training.dataset import TrainingSet
from training.fonts import HELD_OUT_FAMILIES, TRAIN_FAMILIES, Family, available, faces
from training.results import Evaluation, KindResult
from training.workers import cpu_count

ARCHITECTURE = (
    "784 -> Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2) "
    "-> Dense(10, softmax)"
)


def model_card(
    config: TrainConfig,
    data: Mnist,
    evaluation: Evaluation,
    kinds: dict[str, KindResult],
    history: dict[str, list[float]],
    seconds: float,
    model_file: Path,
    images: TrainingSet | None,
) -> dict[str, object]:
    """The card written beside the model (`<stem>.card.json`), readable by app's model_file."""
    import keras
    import tensorflow as tf

    train_samples = int(len(data.x_train) * (1 - config.validation_split))
    return {
        "name": config.name,
        "version": config.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": model_file.name,
        "input_shape": [None, 784],
        "classes": list(range(NUM_CLASSES)),
        "architecture": ARCHITECTURE,
        "parameters": 669_706,
        "libraries": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
        "training": {
            **asdict(config),
            "optimizer": "adam",
            "learning_rate": "1e-3" if images is None else "1e-3, cosine decay to 0",
            "loss": "categorical_crossentropy",
            "train_samples": train_samples,
            "validation_samples": len(data.x_train) - train_samples,
            "fitted_samples": train_samples if images is None else len(images.x),
            "fitted_parts": {"mnist": train_samples} if images is None else images.parts,
            "seconds": round(seconds, 1),
            "machine": f"{platform.machine()}, {cpu_count()} CPU cores",
        },
        "fonts": fonts_section(images is not None),
        "data": {"source": data.source, "sha256": data.sha256, "test_samples": len(data.x_test)},
        "test": {
            "loss": round(evaluation.loss, 6),
            "accuracy": round(evaluation.accuracy, 6),
            "correct": evaluation.correct,
            "incorrect": evaluation.incorrect,
            "per_class_accuracy": evaluation.per_class_accuracy,
            "confusion_matrix": evaluation.confusion_matrix,
        },
        "evaluation": evaluation_section(kinds),
        "history": history,
    }


def fonts_section(trained: bool) -> dict[str, list[str]]:
    """Font families trained on (none for the tutorial) and held out for evaluation, with files."""

    def described(families: tuple[Family, ...]) -> list[str]:
        return [f"{f.name} ({f.package}: {_files(f)})" for f in available(families)]

    return {
        "trained": described(TRAIN_FAMILIES) if trained else [],
        "held_out": described(HELD_OUT_FAMILIES),
    }


def evaluation_section(kinds: dict[str, KindResult]) -> dict[str, object]:
    """Accuracy, count and confusion matrix per kind of upload (and per held-out font family)."""
    section: dict[str, object] = {}
    for name, result in kinds.items():
        entry: dict[str, object] = {
            "description": result.description,
            "images": result.count,
            "correct": result.correct,
            "accuracy": round(result.accuracy, 6),
            "confusion_matrix": result.confusion_matrix,
        }
        if result.per_family:
            entry["per_family"] = {k: round(v, 6) for k, v in result.per_family.items()}
        entry["refused"] = result.refused
        if result.outlier:
            entry |= {"outlier": True, "confident": result.confident, "auroc": result.auroc}
            del entry["confusion_matrix"]
        section[name] = entry
    return section


def _files(family: Family) -> str:
    return ", ".join(path.name if path else "load_default()" for path in faces(family))
