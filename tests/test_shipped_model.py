"""The shipped models/mnist/1/model.keras: its MNIST score, and that its card says the same."""

import io
import json
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from app.imaging.pixels import to_model_input
from training.data import Mnist

MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist" / "1" / "model.keras"
CARD = MODEL.with_name("model.card.json")


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


@pytest.fixture(scope="module")
def predictions(keras_model: keras.Model, mnist: Mnist) -> np.ndarray:
    """The shipped model's digit for each of the 10,000 MNIST test images."""
    probabilities = keras.ops.convert_to_numpy(keras_model(to_model_input(mnist.x_test)))
    return probabilities.argmax(axis=1)


@pytest.fixture(scope="module")
def confusion(predictions: np.ndarray, mnist: Mnist) -> np.ndarray:
    """Rows: true digit, columns: predicted digit."""
    cells = 10 * mnist.y_test.astype(np.int64) + predictions
    return np.bincount(cells, minlength=100).reshape(10, 10)


@pytest.mark.slow
def test_shipped_model_scores_at_least_98_percent_on_mnist_test(
    predictions: np.ndarray, mnist: Mnist
) -> None:
    assert (predictions == mnist.y_test).mean() >= 0.98


@pytest.mark.slow
def test_shipped_card_accuracy_matches_the_measured_one(
    card: dict, predictions: np.ndarray, mnist: Mnist
) -> None:
    assert abs(card["test"]["accuracy"] - (predictions == mnist.y_test).mean()) <= 1e-4


@pytest.mark.slow
def test_shipped_card_correct_count_matches(card: dict, confusion: np.ndarray) -> None:
    assert card["test"]["correct"] == np.trace(confusion)


@pytest.mark.slow
def test_shipped_card_incorrect_count_matches(card: dict, confusion: np.ndarray) -> None:
    assert card["test"]["incorrect"] == confusion.sum() - np.trace(confusion)


@pytest.mark.slow
def test_shipped_card_confusion_matrix_matches(card: dict, confusion: np.ndarray) -> None:
    np.testing.assert_array_equal(card["test"]["confusion_matrix"], confusion)


@pytest.mark.slow
def test_shipped_card_per_class_accuracy_matches(card: dict, confusion: np.ndarray) -> None:
    measured = confusion.diagonal() / confusion.sum(axis=1)
    np.testing.assert_allclose(card["test"]["per_class_accuracy"], measured, atol=1e-6)


def test_shipped_card_data_sha256_is_the_mnist_file(card: dict, mnist: Mnist) -> None:
    assert card["data"]["sha256"] == mnist.sha256


def test_shipped_card_names_the_model_file(card: dict) -> None:
    assert card["model_file"] == MODEL.name


def test_shipped_card_parameter_count_matches_the_model(
    card: dict, keras_model: keras.Model
) -> None:
    assert card["parameters"] == keras_model.count_params() == 669_706


def test_shipped_model_file_is_under_4_mb() -> None:
    assert MODEL.stat().st_size < 4 * 1024 * 1024


def test_shipped_model_has_no_optimizer_weights() -> None:
    with zipfile.ZipFile(MODEL) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(weights, "r") as h5:
        assert "optimizer" not in h5


def test_shipped_model_has_no_compile_config() -> None:
    with zipfile.ZipFile(MODEL) as archive:
        config = json.loads(archive.read("config.json"))
    assert not config.get("compile_config")


def test_shipped_model_loads_uncompiled(keras_model: keras.Model) -> None:
    assert keras_model.compiled is False
