""" "Not a digit" over HTTP with the real model: a version whose card is the shipped card plus an
abstention threshold (the shipped weights), a version whose threshold is malformed, the settings
that switch abstention off or override the threshold, and the shipped versions (no threshold)."""

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.http.schemas import BatchPrediction, Prediction
from app.imaging.pipeline import PreparedImage
from app.main import create_app
from app.settings import Settings
from tests.support import REPOSITORY, png
from tests.support.drawings import noise_texture
from tests.support.versions import THRESHOLD, carded_version

ABSTAINING, MALFORMED = 1, 2  # versions of the repository below
NO_SHAPE = "no ink component is shaped like a digit"


NOISE = png(noise_texture())


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("abstaining")
    abstention = {"threshold": THRESHOLD, "score": "max_probability", "calibrated_on": "test"}
    carded_version(root, ABSTAINING, abstention=abstention)
    carded_version(root, MALFORMED, abstention={"threshold": 1.5, "score": "max_probability"})
    return root


def app_client(repository: Path, **settings: Any) -> TestClient:
    return TestClient(
        create_app(Settings(model_repository=repository, version_policy="all", **settings))
    )


@pytest.fixture(scope="module")
def client(repository: Path) -> Iterator[TestClient]:
    with app_client(repository) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shipped_client() -> Iterator[TestClient]:
    """The shipped version 2 alone: its card has no abstention threshold."""
    settings = Settings(model_repository=REPOSITORY, version_policy="2")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


class Refusing:
    """A decoder whose photo stage refuses every upload (no digit shape found)."""

    async def parse(self, function: Callable[..., Any], body: bytes, *args: object) -> Any:
        return function(body, *args)  # the route's form, parsed as the real decoder does

    async def prepare(self, data: bytes, normalize: bool) -> PreparedImage:
        return PreparedImage(noise_texture(), normalized=True, refusal=NO_SHAPE)


@contextlib.contextmanager
def refusing_pipeline(client: TestClient) -> Iterator[None]:
    state = client.app.state  # type: ignore[attr-defined]
    serving = state.serving
    state.serving = dataclasses.replace(serving, decoder=Refusing())
    try:
        yield
    finally:
        state.serving = serving


def predict(client: TestClient, data: bytes) -> dict[str, Any]:
    response = client.post("/predict", files={"file": ("x.png", data, "image/png")})
    assert response.status_code == 200, response.text
    return Prediction.model_validate(response.json()).model_dump()


def test_noise_texture_is_below_the_threshold_without_abstention(repository: Path) -> None:
    with app_client(repository, abstain=False) as plain:
        answer = predict(plain, NOISE)
    assert answer["digit"] is not None
    assert answer["not_a_digit"] is None
    assert answer["confidence"] < THRESHOLD  # what the tests below rely on


def test_mnist_digit_is_a_digit(client: TestClient, digit_png: bytes) -> None:
    answer = predict(client, digit_png)
    assert (answer["digit"], answer["not_a_digit"]) == (7, None)
    assert answer["model"]["version"] == str(ABSTAINING)


def test_noise_texture_is_not_a_digit(client: TestClient) -> None:
    answer = predict(client, NOISE)
    assert answer["digit"] is None
    assert answer["not_a_digit"]["reason"] == "low_confidence"
    assert f"below this model's threshold {THRESHOLD:.2f}" in answer["not_a_digit"]["detail"]
    assert answer["confidence"] == max(answer["probabilities"]) < THRESHOLD
    assert answer["normalized"] is False


def test_batch_items_each_get_their_verdict(client: TestClient, digit_png: bytes) -> None:
    files = [("files", ("d.png", digit_png, "image/png")), ("files", ("n.png", NOISE, "image/png"))]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200, response.text
    digit, noise = BatchPrediction.model_validate(response.json()).results
    assert digit.prediction is not None
    assert noise.prediction is not None
    assert (digit.prediction.digit, digit.prediction.not_a_digit) == (7, None)
    assert noise.prediction.digit is None
    assert noise.prediction.not_a_digit is not None
    assert noise.prediction.not_a_digit.reason == "low_confidence"


def test_image_the_pipeline_refuses_is_no_digit_shape(client: TestClient) -> None:
    with refusing_pipeline(client):
        answer = predict(client, NOISE)
    assert answer["digit"] is None
    assert answer["not_a_digit"]["reason"] == "no_digit_shape"
    assert NO_SHAPE in answer["not_a_digit"]["detail"]


def v2_pixels(*images: np.ndarray, **extra: Any) -> dict[str, Any]:
    rows = [(image.reshape(-1) / 255).tolist() for image in images]
    tensor = {"name": "pixels", "datatype": "FP32", "shape": [len(rows), 784], "data": rows}
    return {"inputs": [tensor], **extra}


def test_v2_infer_says_which_rows_are_not_digits(client: TestClient, mnist: Any) -> None:
    response = client.post(
        "/v2/models/mnist/infer", json=v2_pixels(mnist.x_test[0], noise_texture())
    )
    assert response.status_code == 200, response.text
    outputs = {output["name"]: output for output in response.json()["outputs"]}
    assert list(outputs) == ["probabilities", "not_a_digit", "not_a_digit_reason"]
    assert outputs["not_a_digit"] == {
        "name": "not_a_digit",
        "datatype": "BOOL",
        "shape": [2],
        "data": [False, True],
    }
    assert outputs["not_a_digit_reason"]["data"] == ["", "low_confidence"]
    assert outputs["not_a_digit_reason"]["datatype"] == "BYTES"


def test_v2_classification_names_not_a_digit_first(client: TestClient, mnist: Any) -> None:
    outputs = [{"name": "probabilities", "parameters": {"classification": 2}}]
    body = v2_pixels(mnist.x_test[0], noise_texture(), outputs=outputs)
    response = client.post("/v2/models/mnist/infer", json=body)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    digit, noise = output["data"][:2], output["data"][2:]
    assert digit[0].endswith(":7")
    score, index, label = noise[0].split(":")
    assert (index, label) == ("-1", "not_a_digit")
    probabilities = predict(client, NOISE)["probabilities"]
    assert float(score) == pytest.approx(max(probabilities), abs=1e-6)
    assert float(score) < THRESHOLD
    assert noise[1].split(":")[1] == str(int(np.argmax(probabilities)))  # its best digit next


def test_v2_metadata_lists_the_not_a_digit_outputs(client: TestClient) -> None:
    outputs = client.get("/v2/models/mnist").json()["outputs"]
    assert outputs == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
        {"name": "not_a_digit", "datatype": "BOOL", "shape": [-1]},
        {"name": "not_a_digit_reason", "datatype": "BYTES", "shape": [-1]},
    ]


def test_model_metadata_shows_the_threshold(client: TestClient) -> None:
    assert client.get("/model").json()["abstention_threshold"] == THRESHOLD


def test_malformed_threshold_leaves_its_version_unavailable(client: TestClient) -> None:
    index = {entry["version"]: entry for entry in client.post("/v2/repository/index").json()}
    assert index[str(ABSTAINING)]["state"] == "READY"
    entry = index[str(MALFORMED)]
    assert entry["state"] == "UNAVAILABLE"
    assert "`abstention.threshold` must be a number between 0 and 1" in entry["reason"]
    assert "not 1.5" in entry["reason"]


def test_not_a_digit_answers_are_counted_by_reason(client: TestClient) -> None:
    predict(client, NOISE)
    scrape = client.get("/metrics").text
    line = f'mnist_not_a_digit_total{{reason="low_confidence",version="{ABSTAINING}"}}'
    (sample,) = [row for row in scrape.splitlines() if row.startswith(line)]
    assert float(sample.split()[-1]) >= 1


def test_abstain_false_answers_the_digit_everywhere(repository: Path) -> None:
    with app_client(repository, abstain=False) as plain:
        answer = predict(plain, NOISE)
        v2 = plain.post("/v2/models/mnist/infer", json=v2_pixels(noise_texture())).json()
        metadata = plain.get("/v2/models/mnist").json()
        threshold = plain.get("/model").json()["abstention_threshold"]
    assert answer["digit"] == int(np.argmax(answer["probabilities"]))
    assert answer["not_a_digit"] is None
    assert [output["name"] for output in v2["outputs"]] == ["probabilities"]
    assert [output["name"] for output in metadata["outputs"]] == ["probabilities"]
    assert threshold is None


@pytest.mark.parametrize(("override", "not_a_digit"), [("0.05", False), ("0.999", True)])
def test_threshold_setting_overrides_the_card(
    repository: Path, monkeypatch: pytest.MonkeyPatch, override: str, not_a_digit: bool
) -> None:
    monkeypatch.setenv("MNIST_API_ABSTAIN_THRESHOLD", override)
    with app_client(repository) as overridden:
        answer = predict(overridden, NOISE)
        assert overridden.get("/model").json()["abstention_threshold"] == float(override)
    assert (answer["not_a_digit"] is not None) is not_a_digit
    assert (answer["digit"] is None) is not_a_digit


def test_threshold_setting_applies_to_a_version_without_one(
    monkeypatch: pytest.MonkeyPatch, digit_png: bytes
) -> None:
    monkeypatch.setenv("MNIST_API_ABSTAIN_THRESHOLD", "0.999")
    with TestClient(create_app(Settings(model_repository=REPOSITORY))) as shipped:
        assert predict(shipped, NOISE)["not_a_digit"]["reason"] == "low_confidence"
        assert predict(shipped, digit_png)["digit"] == 7


# --- the shipped versions: no threshold, answers as before --------------------------------------


def test_version_without_threshold_answers_a_digit(shipped_client: TestClient) -> None:
    answer = predict(shipped_client, NOISE)
    assert answer["digit"] == int(np.argmax(answer["probabilities"]))
    assert answer["not_a_digit"] is None


def test_version_without_threshold_ignores_the_pipelines_refusal(
    shipped_client: TestClient,
) -> None:
    with refusing_pipeline(shipped_client):
        answer = predict(shipped_client, NOISE)
    assert answer["digit"] is not None
    assert answer["not_a_digit"] is None


def test_version_without_threshold_has_only_probabilities_on_v2(
    shipped_client: TestClient,
) -> None:
    metadata = shipped_client.get("/v2/models/mnist").json()
    assert [output["name"] for output in metadata["outputs"]] == ["probabilities"]
    response = shipped_client.post("/v2/models/mnist/infer", json=v2_pixels(noise_texture()))
    assert [output["name"] for output in response.json()["outputs"]] == ["probabilities"]
    asked = v2_pixels(noise_texture(), outputs=[{"name": "not_a_digit"}])
    refused = shipped_client.post("/v2/models/mnist/infer", json=asked)
    assert refused.status_code == 400
    assert "this version has no abstention threshold" in refused.json()["error"]
