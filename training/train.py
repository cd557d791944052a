"""Fit the network by a recipe, evaluate it, and save the model, its card and its report."""

import json
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
from numpy.typing import NDArray

from app.imaging.pixels import NUM_CLASSES, to_model_input
from app.inference.model_file import ABSTENTION_CARD_KEY, LITERT_CARD_KEY, card_path
from training.abstention import calibrate
from training.card import model_card
from training.config import TrainConfig
from training.data import Mnist, prepare
from training.dataset import TrainingSet, build, held_out_outliers, split
from training.evaluation import build_suite, evaluate_suite
from training.export import export
from training.model import build_model, compile_model
from training.report import write_report
from training.repository import MODEL_FILE, publish
from training.results import Evaluation, confusion

logger = logging.getLogger(__name__)

__all__ = [
    "Evaluation",
    "TrainConfig",
    "evaluate",
    "fit",
    "run",
    "run_into_repository",
    "save_model",
]
LEARNING_RATE = 1e-3  # Adam's default, where the robust recipe's cosine decay starts
CALIBRATION_SEED = 20261203  # calibration outliers; training and evaluation use other seeds


def training_set(data: Mnist, config: TrainConfig) -> TrainingSet | None:
    """The robust recipe's images (built on every core); None for the tutorial's plain MNIST."""
    if config.recipe == "tutorial":
        return None
    x, y, _, _ = split(data.x_train, data.y_train, config.validation_split)
    return build(x, y, config)


def fit(
    data: Mnist, config: TrainConfig, images: TrainingSet | None = None
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train a fresh, seeded model by backpropagation; return it with its per-epoch history."""
    if images is None:
        images = training_set(data, config)
    keras.utils.set_random_seed(config.seed)
    verbose = 1 if sys.stdout.isatty() else 2
    if images is None:  # the tutorial, step by step
        x_train, y_train = prepare(data.x_train, data.y_train)
        model = compile_model(build_model())
        history = model.fit(
            x_train,
            y_train,
            batch_size=config.batch_size,
            epochs=config.epochs,
            validation_split=config.validation_split,
            verbose=verbose,
        )
    else:
        _, _, x_val, y_val = split(data.x_train, data.y_train, config.validation_split)
        x_train, y_train, weights = with_outliers(images, config.outlier_weight)
        steps = math.ceil(len(x_train) / config.batch_size) * config.epochs
        schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)
        model = compile_model(build_model(), learning_rate=schedule)
        history = model.fit(
            x_train,
            y_train,
            batch_size=config.batch_size,
            epochs=config.epochs,
            sample_weight=weights,
            validation_data=prepare(x_val, y_val) if len(x_val) else None,
            shuffle=True,
            verbose=verbose,
        )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def with_outliers(
    images: TrainingSet, weight: float
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Inputs, targets and sample weights: digits one-hot at weight 1, outliers (Outlier
    Exposure, Hendrycks et al. 2019) the uniform distribution at `weight`: cross-entropy
    against uniform pushes their softmax towards 1/10 each."""
    x_digits, y_digits = prepare(images.x, images.y)
    x_out = to_model_input(images.outliers)
    y_out = np.full((len(x_out), NUM_CLASSES), 1.0 / NUM_CLASSES, np.float32)
    weights = np.concatenate(
        [np.ones(len(x_digits), np.float32), np.full(len(x_out), weight, np.float32)]
    )
    return np.concatenate([x_digits, x_out]), np.concatenate([y_digits, y_out]), weights


def calibration(model: keras.Model, data: Mnist, config: TrainConfig) -> dict[str, object]:
    """The card's abstention record: threshold from the held-out MNIST validation digits,
    checked against held-out outliers drawn with calibration seeds (not evaluation's)."""
    _, _, x_val, _ = split(data.x_train, data.y_train, config.validation_split)
    outliers = held_out_outliers(len(x_val) // 2, CALIBRATION_SEED)
    digits = model.predict(to_model_input(x_val), batch_size=1024, verbose=0)
    outlying = model.predict(to_model_input(outliers), batch_size=1024, verbose=0)
    described = {
        "digits": f"MNIST validation split ({len(x_val)} digits, never trained on)",
        "outliers": f"{len(outliers)} held-out outliers of every kind (held-out fonts and "
        "generators, calibration seeds)",
    }
    return calibrate(digits, outlying, config.false_refusal, described)


def evaluate(model: keras.Model, data: Mnist) -> Evaluation:
    """Test loss/accuracy, correct/incorrect counts, per-class accuracy and confusion matrix."""
    x_test, y_test = prepare(data.x_test, data.y_test)
    probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    predictions = probabilities.argmax(axis=1)
    truth = data.y_test.astype(np.int64)
    loss = float(keras.losses.categorical_crossentropy(y_test, probabilities).numpy().mean())
    matrix = confusion(truth, predictions)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    correct = int((predictions == truth).sum())
    return Evaluation(
        loss=loss,
        accuracy=correct / len(truth),
        correct=correct,
        incorrect=len(truth) - correct,
        per_class_accuracy=[round(float(a), 6) for a in per_class],
        confusion_matrix=matrix.tolist(),
        predictions=predictions,
    )


def save_model(model: keras.Model, path: Path) -> None:
    """Save an uncompiled copy (weights and architecture, no optimizer state) as `.keras`."""
    serving = build_model()
    serving.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    serving.save(path)


def run(
    data: Mnist, config: TrainConfig, out_dir: Path, filename: str | None = None
) -> dict[str, object]:
    """Train, evaluate, save model + card + report under `out_dir`; return the card.

    The model file is `filename`, else `<config.name>.keras`; its card sits beside it.
    """
    started = time.monotonic()
    images = training_set(data, config)
    model, history = fit(data, config, images)
    seconds = time.monotonic() - started
    evaluation = evaluate(model, data)
    logger.info(
        "test accuracy %.4f (%d correct, %d incorrect), loss %.4f",
        evaluation.accuracy,
        evaluation.correct,
        evaluation.incorrect,
        evaluation.loss,
    )
    abstention = (
        calibration(model, data, config) if images is not None and len(images.outliers) else None
    )
    threshold = abstention["threshold"] if abstention else None
    kinds = evaluate_suite(model, build_suite(data, config.eval_samples), threshold)
    model_file = out_dir / (filename or f"{config.name}.keras")
    save_model(model, model_file)
    card = model_card(config, data, evaluation, kinds, history, seconds, model_file, images)
    if abstention:
        card[ABSTENTION_CARD_KEY] = abstention
        logger.info("abstention: %s", abstention)
    card_path(model_file).write_text(json.dumps(card, indent=2) + "\n")
    pixels, _ = prepare(data.x_test, data.y_test)
    card[LITERT_CARD_KEY] = export(model_file, pixels, f"MNIST test ({data.source})")
    write_report(out_dir / "report", history, evaluation, data, kinds, images)
    logger.info("saved %s, its LiteRT file, card and report in %s", model_file, out_dir)
    return card


def run_into_repository(
    data: Mnist, config: TrainConfig, repository: Path
) -> tuple[dict[str, object], Path]:
    """`run` into the next version of `<repository>/<name>/`; return the card and the folder."""

    def write(folder: Path, version: str) -> None:
        run(data, replace(config, version=version), folder, MODEL_FILE)

    folder = publish(repository / config.name, write)
    card = json.loads(card_path(folder / MODEL_FILE).read_text())
    return card, folder
