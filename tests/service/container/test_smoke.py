"""Smoke test of a running container, from outside: `docker compose up`, then

    MNIST_API_URL=http://127.0.0.1:8000 python -m pytest tests/service/container

Skipped unless MNIST_API_URL is set. Uses a real MNIST test digit when $MNIST_NPZ is set.
"""

import os
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.support import encode, png

URL = os.environ.get("MNIST_API_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="set MNIST_API_URL to the running service")


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=URL, timeout=30) as client:
        yield client


def test_container_readyz_reports_ready(api: httpx.Client) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_container_predicts_real_mnist_digits(api: httpx.Client, mnist) -> None:  # type: ignore[no-untyped-def]
    """The shipped model's accuracy (99 %) on 200 test digits: the served model is the real one
    (tests/http/test_mnist.py checks every answer equals the offline model's)."""
    correct = 0
    for index in range(200):
        data = png(mnist.x_test[index])
        response = api.post("/predict", files={"file": ("digit.png", data, "image/png")})
        assert response.status_code == 200, response.text
        correct += response.json()["digit"] == int(mnist.y_test[index])
    assert correct >= 196


def test_container_predicts_typed_digit(api: httpx.Client) -> None:
    canvas = Image.new("RGB", (300, 300), "white")
    ImageDraw.Draw(canvas).text((100, 40), "7", fill="black", font=ImageFont.load_default(200))
    response = api.post(
        "/predict", files={"file": ("seven.jpg", encode(canvas, "JPEG"), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] == 7
    assert len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) < 1e-5


@pytest.mark.parametrize(
    ("payload", "status"),
    [(b"", 400), (b"definitely not an image", 415), (png(np.zeros((28, 28), np.uint8)), 422)],
)
def test_container_bad_upload_gets_4xx(api: httpx.Client, payload: bytes, status: int) -> None:
    response = api.post("/predict", files={"file": ("bad.png", payload, "image/png")})
    assert response.status_code == status
    assert response.json()["detail"]


def test_container_docs_page_served(api: httpx.Client) -> None:
    response = api.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert api.get("/openapi.json").json()["paths"]["/predict"]


def test_container_model_metadata(api: httpx.Client) -> None:
    body = api.get("/model").json()
    assert body["name"] == "mnist"
    assert (body["version"], body["default_version"], body["versions"]) == ("3", "3", ["3"])
    assert body["card"]["training"]["recipe"] == "robust"
    assert body["test_accuracy"] >= 0.988


def test_container_worker_is_light(api: httpx.Client) -> None:
    """The versions load from their LiteRT files: the worker holds no TensorFlow (~100 MiB,
    where importing TensorFlow alone takes ~600). Single-worker mode exports process_*."""
    metrics = api.get("/metrics").text
    (line,) = [m for m in metrics.splitlines() if m.startswith("process_resident_memory_bytes")]
    assert float(line.split()[-1]) < 300 * 2**20, line
