"""Shared fixtures: the real MNIST data (when configured), the shipped model, the app's client."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests import servers, support
from tests.support import REPOSITORY, SHIPPED_MODEL, SMALL_BATCH_FILES, SMALL_UPLOAD_BYTES, png
from tests.versions import carded_version, vouched
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


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `python -m app` on a free port of 127.0.0.1, ready; yields (process, base URL)."""
    port = support.free_port()
    log = tmp_path_factory.mktemp("server") / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            servers.app_command("--port", str(port)),
            cwd=support.ROOT,
            env=servers.clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        support.wait_ready(process, f"http://127.0.0.1:{port}", log)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def refused_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Repositories whose one version `python -m app` must refuse, by case name: the version's
    folder (`<repository>/mnist/1`)."""
    import keras

    from training.export import litert_flatbuffer

    root = tmp_path_factory.mktemp("refused")

    def version(case: str) -> Path:
        folder = root / case / "mnist" / "1"
        folder.mkdir(parents=True)
        shutil.copy(SHIPPED_MODEL, folder / "model.keras")
        return folder

    bare = version("bare")
    stale = version("stale")
    vouched(stale / "model.keras", SHIPPED_MODEL.with_suffix(".tflite").read_bytes())
    (stale / "model.keras").write_bytes(b"retrained elsewhere " * 100)
    corrupt = Path(shutil.copytree(SHIPPED_MODEL.parent, root / "corrupt" / "mnist" / "1"))
    (corrupt / "model.tflite").write_bytes(b"\0" * 1000)
    not_litert = vouched(version("not-litert") / "model.keras", b"not a flatbuffer " * 64)
    tiny = servers.tiny_model(root / "inputs100.keras", 100, 10)
    tiny_litert = litert_flatbuffer(keras.saving.load_model(tiny, compile=False))
    wrong = vouched(version("wrong-input-size") / "model.keras", tiny_litert)
    malformed = carded_version(root / "malformed-threshold", 1, abstention={"threshold": 1.5})
    return {
        "bare": bare,
        "stale": stale,
        "corrupt-litert-file": corrupt,
        "not-litert": not_litert,
        "wrong-input-size": wrong,
        "malformed-threshold": malformed,
    }


@pytest.fixture(scope="session")
def refused_startups(
    refused_models: dict[str, Path],
) -> dict[str, subprocess.CompletedProcess[str]]:
    """`python -m app --repository <it>` for each refused repository, run side by side."""
    processes = {
        case: subprocess.Popen(
            servers.app_command(
                "--port", str(support.free_port()), "--repository", str(path.parents[1])
            ),
            cwd=support.ROOT,
            env=servers.clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for case, path in refused_models.items()
    }
    results = {}
    for case, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=support.READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results[case] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return results
