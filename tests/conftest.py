"""Shared fixtures: the real MNIST data (when configured), the shipped model, the app's client."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from training.data import DATA_ENV, Mnist, load_mnist

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "mnist-mlp.keras"
NO_MNIST = f"${DATA_ENV} is not set: the real MNIST .npz is needed (tests never download it)"


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    """The real MNIST arrays from $MNIST_NPZ; tests that need them skip without it."""
    if not os.environ.get(DATA_ENV):
        pytest.skip(NO_MNIST)
    return load_mnist()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(model_path=SHIPPED_MODEL)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app with the shipped model, lifespan run (model loaded and warmed)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def keras_model():  # type: ignore[no-untyped-def]
    """The shipped model loaded directly through Keras, the offline reference."""
    import keras

    return keras.saving.load_model(SHIPPED_MODEL)
