"""Fixtures for every folder: the real MNIST data (when configured), the shipped model, the app's
clients. The whole-service fixtures (a real server) are in tests/service/conftest.py."""

import os
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support import (
    REPOSITORY,
    SHIPPED_MODEL,
    SMALL_BATCH_FILES,
    SMALL_UPLOAD_BYTES,
    png,
)
from training.data import DATA_ENV, Mnist, load_mnist

# In-process apps serve no gRPC: the app's generated modules and tritonclient.grpc's define the
# same protobuf symbols (package `inference`), which one process cannot hold twice.
os.environ["MNIST_API_GRPC_PORT"] = "0"
NO_MNIST = f"${DATA_ENV} is not set: the real MNIST .npz is needed (tests never download it)"


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    """The real MNIST arrays from $MNIST_NPZ; tests that need them skip without it."""
    if not os.environ.get(DATA_ENV):
        pytest.skip(NO_MNIST)
    return load_mnist()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(model_repository=REPOSITORY)


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


@pytest.fixture(scope="session")
def small_batch_client() -> Iterator[TestClient]:
    """The real app with max_batch_files=SMALL_BATCH_FILES, lifespan run."""
    settings = Settings(model_repository=REPOSITORY, max_batch_files=SMALL_BATCH_FILES)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def unstarted_client(settings: Settings) -> TestClient:
    """The app before its lifespan ran (no `with`): the model is not loaded."""
    return TestClient(create_app(settings))


@pytest.fixture(scope="session")
def digit_png(mnist: Mnist) -> bytes:
    """PNG bytes of the first MNIST test digit (a 7)."""
    return png(mnist.x_test[0])


@pytest.fixture
def small_upload_app() -> FastAPI:
    """The app with a 64 KiB body limit, lifespan not run: enough for requests rejected early."""
    return create_app(Settings(model_repository=REPOSITORY, max_upload_bytes=SMALL_UPLOAD_BYTES))
