"""Helpers that run `python -m app` as a real process, and model files it must refuse."""

import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT, free_port, wait_ready


def app_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", "--host", "127.0.0.1", *args]


def clean_env() -> dict[str, str]:
    """The test's environment without MNIST_API_* settings, so only the flags count; gRPC off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_API_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["MNIST_API_GRPC_PORT"] = "0"  # no gRPC server unless a test asks (--grpc-port)
    return env


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


@contextmanager
def running(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    """`python -m app *args` on a free port with `env` added, ready; stopped afterwards."""
    port = free_port()
    log = folder / f"server-{port}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            app_command("--port", str(port), *args),
            cwd=ROOT,
            env={**clean_env(), **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_ready(process, f"http://127.0.0.1:{port}", log)
        yield Running(process, f"http://127.0.0.1:{port}", log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (so that uvicorn stops its workers too), then SIGKILL if it takes over 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def tiny_model(path: Path, inputs: int, outputs: int) -> Path:
    """Save a one-layer Keras model with the given input and output sizes."""
    import keras

    model = keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(outputs, activation="softmax")]
    )
    model.save(path)
    return path


def with_garbage_weights(source: Path, path: Path) -> Path:
    """A copy of a .keras archive whose model.weights.h5 is not HDF5 at all."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for name in original.namelist():
            data = original.read(name)
            copy.writestr(name, b"not hdf5 " * 64 if name == "model.weights.h5" else data)
    return path


def zip_without_keras_files(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    return path
