"""Fit the network, evaluate it on the test set, and save the model, its card and its report."""

import json
import logging
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np

from app.imaging.pixels import NUM_CLASSES
from app.inference.model_file import card_path
from training.config import TrainConfig
from training.data import Mnist, prepare
from training.model import build_model, compile_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    correct: int
    incorrect: int
    per_class_accuracy: list[float]
    confusion_matrix: list[list[int]]
    predictions: np.ndarray


def fit(data: Mnist, config: TrainConfig) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train a fresh, seeded model by backpropagation; return it with its per-epoch history."""
    keras.utils.set_random_seed(config.seed)
    x_train, y_train = prepare(data.x_train, data.y_train)
    model = compile_model(build_model())
    history = model.fit(
        x_train,
        y_train,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_split=config.validation_split,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def evaluate(model: keras.Model, data: Mnist) -> Evaluation:
    """Test loss/accuracy, correct/incorrect counts, per-class accuracy and confusion matrix."""
    x_test, y_test = prepare(data.x_test, data.y_test)
    probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    predictions = probabilities.argmax(axis=1)
    truth = data.y_test.astype(np.int64)
    loss = float(keras.losses.categorical_crossentropy(y_test, probabilities).numpy().mean())
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (truth, predictions), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    correct = int((predictions == truth).sum())
    return Evaluation(
        loss=loss,
        accuracy=correct / len(truth),
        correct=correct,
        incorrect=len(truth) - correct,
        per_class_accuracy=[round(float(a), 6) for a in per_class],
        confusion_matrix=confusion.tolist(),
        predictions=predictions,
    )


def save_model(model: keras.Model, path: Path) -> None:
    """Save an uncompiled copy (weights and architecture, no optimizer state) as `.keras`."""
    serving = build_model()
    serving.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    serving.save(path)


def model_card(
    config: TrainConfig,
    data: Mnist,
    evaluation: Evaluation,
    history: dict[str, list[float]],
    seconds: float,
    model_file: Path,
) -> dict[str, object]:
    """The JSON model card: identity, provenance, settings, results and history."""
    import tensorflow as tf

    return {
        "name": config.name,
        "version": config.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": model_file.name,
        "input_shape": [None, 784],
        "classes": list(range(NUM_CLASSES)),
        "architecture": "784 -> Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) "
        "-> Dropout(0.2) -> Dense(10, softmax)",
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
            "loss": "categorical_crossentropy",
            "train_samples": int(len(data.x_train) * (1 - config.validation_split)),
            "validation_samples": len(data.x_train)
            - int(len(data.x_train) * (1 - config.validation_split)),
            "seconds": round(seconds, 1),
            "machine": f"{platform.machine()}, {_cpu_count()} CPU cores",
        },
        "data": {"source": data.source, "sha256": data.sha256, "test_samples": len(data.x_test)},
        "test": {
            "loss": round(evaluation.loss, 6),
            "accuracy": round(evaluation.accuracy, 6),
            "correct": evaluation.correct,
            "incorrect": evaluation.incorrect,
            "per_class_accuracy": evaluation.per_class_accuracy,
            "confusion_matrix": evaluation.confusion_matrix,
        },
        "history": history,
    }


def run(data: Mnist, config: TrainConfig, out_dir: Path) -> dict[str, object]:
    """Train, evaluate, save model + card + report under `out_dir`; return the card."""
    from training.report import write_report

    started = time.monotonic()
    model, history = fit(data, config)
    seconds = time.monotonic() - started
    evaluation = evaluate(model, data)
    logger.info(
        "test accuracy %.4f (%d correct, %d incorrect), loss %.4f",
        evaluation.accuracy,
        evaluation.correct,
        evaluation.incorrect,
        evaluation.loss,
    )
    model_file = out_dir / f"{config.name}.keras"
    save_model(model, model_file)
    card = model_card(config, data, evaluation, history, seconds, model_file)
    card_path(model_file).write_text(json.dumps(card, indent=2) + "\n")
    write_report(out_dir / "report", history, evaluation, data)
    logger.info("saved %s, its card and report in %s", model_file, out_dir)
    return card


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
