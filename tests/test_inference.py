"""app.inference.classifier: the shipped model, run by each runtime, answers as Keras does."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from app.imaging.pixels import NUM_CLASSES, to_model_input
from app.inference.classifier import Classifier, Runtime
from app.inference.model_file import ModelLoadError
from tests.support import SHIPPED_MODEL
from training.data import Mnist

RUNTIMES: list[Runtime] = ["litert", "tensorflow"]


@pytest.fixture(scope="module", params=RUNTIMES)
def classifier(request: pytest.FixtureRequest) -> Classifier:
    """The shipped model loaded once per runtime for this module (a load costs about a second)."""
    return Classifier.load(SHIPPED_MODEL, runtime=request.param)


@pytest.fixture(scope="module")
def digits(mnist: Mnist) -> NDArray[np.float32]:
    """The first 64 real MNIST test digits as model input, float32 (64, 784)."""
    return to_model_input(mnist.x_test[:64])


def test_classifier_load_records_runtime(
    classifier: Classifier, request: pytest.FixtureRequest
) -> None:
    assert classifier.runtime == request.node.callspec.params["classifier"]
    assert classifier.info.path == SHIPPED_MODEL


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


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_classifier_load_missing_file_names_setting(tmp_path: Path, runtime: Runtime) -> None:
    missing = tmp_path / "missing.keras"
    with pytest.raises(ModelLoadError, match="MNIST_API_TEST_MODEL") as caught:
        Classifier.load(missing, setting="MNIST_API_TEST_MODEL", runtime=runtime)
    assert str(missing) in str(caught.value)
