"""POST /predict with the real model: the answer's shape, its numbers and the request's trail."""

import base64
import io
import json
import logging
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.http.schemas import Prediction
from app.imaging.pixels import to_model_input
from app.inference.model_file import card_path
from app.logs import JsonFormatter
from tests.support import PREDICTION_KEYS, SHIPPED_MODEL
from training.data import Mnist


def post_digit(client: TestClient, data: bytes, **params: object) -> dict[str, Any]:
    response = client.post("/predict", params=params, files={"file": ("d.png", data, "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


def test_predict_response_matches_schema(client: TestClient, digit_png: bytes) -> None:
    body = post_digit(client, digit_png)
    Prediction.model_validate(body)
    assert set(body) == PREDICTION_KEYS
    assert body["not_a_digit"] is None  # the shipped version has no abstention threshold


def test_predict_mnist_digit_answers_its_label(
    client: TestClient, mnist: Mnist, digit_png: bytes
) -> None:
    assert post_digit(client, digit_png)["digit"] == int(mnist.y_test[0])


def test_predict_probabilities_sum_to_one(client: TestClient, digit_png: bytes) -> None:
    probabilities = post_digit(client, digit_png)["probabilities"]
    assert len(probabilities) == 10
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_predict_digit_and_confidence_are_the_argmax(client: TestClient, digit_png: bytes) -> None:
    body = post_digit(client, digit_png)
    assert body["digit"] == int(np.argmax(body["probabilities"]))
    assert body["confidence"] == max(body["probabilities"])


def test_predict_mnist_digit_is_not_normalized(client: TestClient, digit_png: bytes) -> None:
    assert post_digit(client, digit_png)["normalized"] is False


def test_predict_model_matches_card(client: TestClient, digit_png: bytes) -> None:
    card = json.loads(card_path(SHIPPED_MODEL).read_text())
    assert post_digit(client, digit_png)["model"] == {
        "name": card["name"],
        "version": card["version"],
    }


def test_predict_image_omitted_by_default(client: TestClient, digit_png: bytes) -> None:
    assert post_digit(client, digit_png)["image"] is None


@pytest.mark.parametrize("normalize", [True, False])
def test_predict_include_image_is_what_the_model_saw(
    client: TestClient, mnist: Mnist, keras_model: Any, normalize: bool
) -> None:
    # A digit in the corner of a large white page: the service must crop, centre and invert it.
    page = np.full((120, 90), 255, dtype=np.uint8)
    page[10:38, 5:33] = 255 - mnist.x_test[1]
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    body = post_digit(client, buffer.getvalue(), include_image=True, normalize=normalize)
    seen = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert (seen.format, seen.size, seen.mode) == ("PNG", (28, 28), "L")
    expected = keras_model.predict(to_model_input(np.asarray(seen))[np.newaxis], verbose=0)[0]
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)


def test_predict_include_image_of_mnist_digit_is_the_upload(
    client: TestClient, mnist: Mnist, digit_png: bytes
) -> None:
    body = post_digit(client, digit_png, include_image=True)
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image"]))))
    np.testing.assert_array_equal(seen, mnist.x_test[0])


def test_predict_echoes_request_id(client: TestClient, digit_png: bytes) -> None:
    response = client.post(
        "/predict",
        files={"file": ("d.png", digit_png, "image/png")},
        headers={"X-Request-ID": "trace-42"},
    )
    assert response.headers["x-request-id"] == "trace-42"


def test_predict_without_request_id_gets_a_fresh_one(client: TestClient, digit_png: bytes) -> None:
    ids = {
        client.post("/predict", files={"file": ("d.png", digit_png, "image/png")}).headers[
            "x-request-id"
        ]
        for _ in range(2)
    }
    assert len(ids) == 2
    assert all(len(request_id) >= 16 for request_id in ids)


def test_predict_logs_one_json_line_without_the_image(
    client: TestClient, digit_png: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        body = post_digit(client, digit_png, include_image=True)
    records = [record for record in caplog.records if record.name == "app.access"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    entry = json.loads(line)
    assert entry["method"] == "POST"
    assert entry["path"] == "/predict"
    assert entry["status"] == 200
    assert entry["latency_ms"] >= 0
    assert entry["request_id"]
    assert entry["digit"] == body["digit"]
    assert entry["confidence"] == pytest.approx(body["confidence"], abs=1e-4)
    assert "\n" not in line
    assert body["image"] not in line
    assert len(line) < 1000
