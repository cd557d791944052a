"""Real MNIST test digits posted as PNG: the service answers exactly what Keras answers offline."""

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.imaging.pixels import to_model_input
from tests.support import png
from training.data import Mnist

COUNT = 500


@pytest.fixture(scope="module")
def answers(client: TestClient, mnist: Mnist) -> list[dict[str, Any]]:
    """The service's answers to the first COUNT test digits, one POST /predict each."""
    bodies = []
    for pixels in mnist.x_test[:COUNT]:
        response = client.post("/predict", files={"file": ("digit.png", png(pixels), "image/png")})
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    return bodies


@pytest.fixture(scope="module")
def reference(mnist: Mnist, keras_model: Any) -> np.ndarray:
    """Keras' own probabilities for the same digits, in one predict call."""
    return keras_model.predict(to_model_input(mnist.x_test[:COUNT]), verbose=0)  # type: ignore[no-any-return]


def test_mnist_over_http_probabilities_equal_keras(
    answers: list[dict[str, Any]], reference: np.ndarray
) -> None:
    served = np.array([body["probabilities"] for body in answers])
    np.testing.assert_allclose(served, reference, atol=1e-5)


def test_mnist_over_http_digits_equal_keras(
    answers: list[dict[str, Any]], reference: np.ndarray
) -> None:
    assert [body["digit"] for body in answers] == reference.argmax(axis=1).tolist()


def test_mnist_over_http_digits_are_used_unchanged(answers: list[dict[str, Any]]) -> None:
    assert not any(body["normalized"] for body in answers)


def test_mnist_over_http_accuracy_matches_the_card(
    answers: list[dict[str, Any]], mnist: Mnist
) -> None:
    digits = np.array([body["digit"] for body in answers])
    assert (digits == mnist.y_test[:COUNT]).mean() >= 0.97
