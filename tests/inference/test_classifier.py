"""app.inference.classifier: the shipped model, from its LiteRT file, answers as Keras does."""

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from app.imaging.pixels import NUM_CLASSES, to_model_input
from app.inference.classifier import Classifier
from app.inference.model_file import ModelLoadError, read_info
from tests.support import SHIPPED_MODEL
from training.data import Mnist


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    """The shipped model, loaded once for this module."""
    return Classifier.load(SHIPPED_MODEL)


@pytest.fixture(scope="module")
def digits(mnist: Mnist) -> NDArray[np.float32]:
    """The first 64 real MNIST test digits as model input, float32 (64, 784)."""
    return to_model_input(mnist.x_test[:64])


def test_classifier_load_records_the_model(classifier: Classifier) -> None:
    assert classifier.info.path == SHIPPED_MODEL
    assert classifier.info.card["litert"]["file"] == "model.tflite"


@pytest.mark.parametrize("size", [1, 7, 64])
def test_classifier_predict_equals_keras(
    classifier: Classifier, keras_model: Any, digits: NDArray[np.float32], size: int
) -> None:
    x = digits[:size]
    np.testing.assert_allclose(classifier.predict(x), keras_model.predict(x, verbose=0), atol=1e-5)


def test_classifier_predict_alternating_batch_sizes_equal_keras(
    classifier: Classifier, keras_model: Any, digits: NDArray[np.float32]
) -> None:
    # litert re-allocates its tensors on every change of size; earlier results must stay intact.
    sizes = [3, 1, 64, 1, 5]
    starts = [0, 3, 0, 63, 10]
    batches = [digits[start : start + size] for start, size in zip(starts, sizes, strict=True)]
    results = [classifier.predict(batch) for batch in batches]
    for batch, result in zip(batches, results, strict=True):
        np.testing.assert_allclose(result, keras_model.predict(batch, verbose=0), atol=1e-5)


@pytest.mark.parametrize("size", [1, 7, 64])
def test_classifier_predict_returns_probabilities(
    classifier: Classifier, digits: NDArray[np.float32], size: int
) -> None:
    probabilities = classifier.predict(digits[:size])
    assert probabilities.dtype == np.float32
    assert probabilities.shape == (size, NUM_CLASSES)
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_classifier_predict_recognises_digits(
    classifier: Classifier, mnist: Mnist, digits: NDArray[np.float32]
) -> None:
    predicted = classifier.predict(digits).argmax(axis=1)
    assert (predicted == mnist.y_test[:64]).mean() >= 0.9


def test_classifier_load_without_litert_file_names_the_export_command(tmp_path: Path) -> None:
    bare = tmp_path / "3"
    bare.mkdir()
    (bare / "model.keras").write_bytes(SHIPPED_MODEL.read_bytes())
    with pytest.raises(ModelLoadError, match=r"no model\.tflite") as caught:
        Classifier.load(bare / "model.keras")
    assert f"python -m training export {bare}" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("stale", "was made from another model.keras"),
        ("corrupt", "differs from the one its card records"),
        ("unrecorded", "records no model.tflite"),
    ],
)
def test_classifier_load_refuses_a_litert_file_its_card_does_not_vouch_for(
    tmp_path: Path, change: str, reason: str
) -> None:
    folder = Path(shutil.copytree(SHIPPED_MODEL.parent, tmp_path / "2"))
    card = json.loads((folder / "model.card.json").read_text())
    if change == "stale":
        card["litert"]["model_sha256"] = "0" * 64
    elif change == "unrecorded":
        del card["litert"]
    else:
        (folder / "model.tflite").write_bytes(b"\0" * 64)
    (folder / "model.card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match=reason):
        Classifier.load(folder / "model.keras")


def test_classifier_refuses_bytes_litert_cannot_run() -> None:
    info = read_info(SHIPPED_MODEL)
    with pytest.raises(ModelLoadError, match="LiteRT cannot run this model"):
        Classifier(b"\0" * 64, info)
