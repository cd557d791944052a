"""The Open Inference Protocol on a real `python -m app`, through the stock Triton HTTP client."""

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support import png
from training.data import Mnist

pytestmark = pytest.mark.server

COUNT = 4
INFER = "/v2/models/mnist/infer"
VERSION = "3"  # models/mnist/3/, the newest


@pytest.fixture(scope="module")
def url(server: tuple[subprocess.Popen[bytes], str]) -> str:
    return server[1]


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[triton.InferenceServerClient]:
    triton_client = triton.InferenceServerClient(url.removeprefix("http://"))
    yield triton_client
    triton_client.close()


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http_client:
        yield http_client


@pytest.fixture(scope="module")
def digits(mnist: Mnist) -> np.ndarray:
    return mnist.x_test[:COUNT]


@pytest.fixture(scope="module")
def pngs(digits: np.ndarray) -> list[bytes]:
    return [png(pixels) for pixels in digits]


@pytest.fixture(scope="module")
def expected(http: httpx.Client, pngs: list[bytes]) -> np.ndarray:
    """POST /predict's probabilities for the same digits, one upload each."""
    answers = []
    for data in pngs:
        response = http.post("/predict", files={"file": ("digit.png", data, "image/png")})
        assert response.status_code == 200, response.text
        answers.append(response.json()["probabilities"])
    return np.array(answers, dtype=np.float32)


def pixels_of(digits: np.ndarray) -> np.ndarray:
    return (digits.reshape(len(digits), -1) / np.float32(255)).astype(np.float32)


def infer(
    client: triton.InferenceServerClient, tensor: triton.InferInput, **output: Any
) -> triton.InferResult:
    outputs = [triton.InferRequestedOutput("probabilities", **output)] if output else None
    return client.infer("mnist", [tensor], outputs=outputs)


def test_v2_server_is_live_and_ready(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("mnist")
    assert client.is_model_ready("mnist", VERSION)


def test_v2_server_metadata_lists_extensions(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata["name"] == "mnist-serve"
    assert {"binary_tensor_data", "classification"} <= set(metadata["extensions"])


@pytest.mark.parametrize("version", ["", VERSION])
def test_v2_model_metadata_declares_tensors(
    client: triton.InferenceServerClient, version: str
) -> None:
    metadata = client.get_model_metadata("mnist", version)
    assert metadata["name"] == "mnist"
    assert metadata["versions"] == [VERSION]
    assert {"name": "pixels", "datatype": "FP32", "shape": [-1, 784]} in metadata["inputs"]
    assert {"name": "image", "datatype": "BYTES", "shape": [-1]} in metadata["inputs"]
    outputs = metadata["outputs"]
    assert outputs[0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}
    # Version 3's card has an abstention threshold: the not-a-digit outputs come with it.
    assert {"name": "not_a_digit", "datatype": "BOOL", "shape": [-1]} in outputs


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_v2_infer_fp32_equals_predict(
    client: triton.InferenceServerClient,
    digits: np.ndarray,
    expected: np.ndarray,
    binary_in: bool,
    binary_out: bool,
) -> None:
    tensor = triton.InferInput("pixels", [COUNT, 784], "FP32")
    tensor.set_data_from_numpy(pixels_of(digits), binary_data=binary_in)
    result = infer(client, tensor, binary_data=binary_out)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (COUNT, 10)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


def test_v2_infer_fp32_with_client_defaults(
    client: triton.InferenceServerClient, digits: np.ndarray, expected: np.ndarray
) -> None:
    tensor = triton.InferInput("pixels", [COUNT, 28, 28], "FP32")
    tensor.set_data_from_numpy(pixels_of(digits).reshape(COUNT, 28, 28))
    result = client.infer("mnist", [tensor], model_version=VERSION, request_id="req-7")
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
    assert result.get_response()["id"] == "req-7"
    assert result.get_response()["model_version"] == VERSION


@pytest.mark.parametrize("binary", [True, False])
def test_v2_infer_png_bytes_equals_predict(
    client: triton.InferenceServerClient, pngs: list[bytes], expected: np.ndarray, binary: bool
) -> None:
    # JSON cannot carry raw bytes: there, each element is the file's base64 text.
    files = pngs if binary else [base64.b64encode(data) for data in pngs]
    tensor = triton.InferInput("image", [COUNT], "BYTES")
    tensor.set_data_from_numpy(np.array(files, dtype=np.object_), binary_data=binary)
    result = infer(client, tensor, binary_data=binary)
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_v2_classification_returns_top_k(
    client: triton.InferenceServerClient, digits: np.ndarray, expected: np.ndarray, binary: bool
) -> None:
    tensor = triton.InferInput("pixels", [COUNT, 784], "FP32")
    tensor.set_data_from_numpy(pixels_of(digits), binary_data=binary)
    result = infer(client, tensor, binary_data=binary, class_count=3)
    classes = result.as_numpy("probabilities")
    assert classes.shape == (COUNT, 3)
    for row, probabilities in zip(classes, expected, strict=True):
        pairs = [(item.decode() if isinstance(item, bytes) else item).split(":") for item in row]
        assert [int(index) for _, index in pairs] == np.argsort(-probabilities)[:3].tolist()
        scores = [float(score) for score, _ in pairs]
        np.testing.assert_allclose(scores, np.sort(probabilities)[::-1][:3], atol=1e-6)


def test_v2_unknown_version_is_404(
    client: triton.InferenceServerClient, digits: np.ndarray
) -> None:
    tensor = triton.InferInput("pixels", [COUNT, 784], "FP32")
    tensor.set_data_from_numpy(pixels_of(digits))
    with pytest.raises(InferenceServerException) as raised:
        client.infer("mnist", [tensor], model_version="9")
    assert raised.value.status() == "404"
    assert "version" in raised.value.message()


def pixels_request(**changes: Any) -> dict[str, Any]:
    tensor = {"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}
    return {"inputs": [{**tensor, **changes}]}


def images_request(*elements: str) -> dict[str, Any]:
    tensor = {"name": "image", "datatype": "BYTES", "shape": [len(elements)], "data": elements}
    return {"inputs": [tensor]}


def with_outputs(request: dict[str, Any], *outputs: dict[str, Any]) -> dict[str, Any]:
    return {**request, "outputs": list(outputs)}


def post(body: Any, **headers: str) -> tuple[str, str, dict[str, Any]]:
    """A POST to the infer route: a dict goes as JSON, bytes as they are."""
    key = "json" if isinstance(body, dict | list) else "content"
    return "POST", INFER, {key: body, "headers": headers}


def binary_post(header: dict[str, Any], payload: bytes) -> tuple[str, str, dict[str, Any]]:
    encoded = json.dumps(header).encode()
    return post(encoded + payload, **{"Inference-Header-Content-Length": str(len(encoded))})


BINARY_PIXELS = pixels_request(data=None, parameters={"binary_data_size": 3136})
NOT_AN_IMAGE = base64.b64encode(b"not an image").decode()
TOP_11 = {"name": "probabilities", "parameters": {"classification": 11}}

# case -> ((method, path, request keyword arguments), status, words in the error)
BAD_REQUESTS: dict[str, tuple[tuple[str, str, dict[str, Any]], int, str]] = {
    "wrong shape": (post(pixels_request(shape=[1, 783])), 400, "shape"),
    "wrong datatype": (post(pixels_request(datatype="INT32")), 400, "FP32"),
    "too few values": (post(pixels_request(data=[0.5] * 10)), 400, "784"),
    "value above 1": (post(pixels_request(data=[2.0] * 784)), 400, "[0, 1]"),
    "negative value": (post(pixels_request(data=[-1] * 784)), 400, "[0, 1]"),
    "NaN": (post(json.dumps(pixels_request(data=[float("nan")] * 784)).encode()), 400, "NaN"),
    "strings as FP32": (post(pixels_request(data=["a"] * 784)), 400, "numbers"),
    "malformed JSON": (post(b'{"inputs": ['), 400, "JSON"),
    "JSON array": (post([]), 400, "object"),
    "no inputs": (post({"inputs": []}), 400, "inputs"),
    "unknown input": (post(pixels_request(name="x")), 400, "unknown input"),
    "unknown output": (post(with_outputs(pixels_request(), {"name": "y"})), 400, "unknown output"),
    "classification 11": (post(with_outputs(pixels_request(), TOP_11)), 400, "classification"),
    "batch over the limit": (post(pixels_request(shape=[65, 784])), 413, "limit"),
    "id not a string": (post({**pixels_request(), "id": 7}), 400, "id"),
    "BYTES not base64": (post(images_request("%%%")), 400, "base64"),
    "BYTES not an image": (post(images_request(NOT_AN_IMAGE)), 400, "element 0"),
    "binary size mismatch": (binary_post(BINARY_PIXELS, b"\0" * 100), 400, "binary_data_size"),
    "header length past the body": (
        post(b"{}", **{"Inference-Header-Content-Length": "99"}),
        400,
        "Inference-Header-Content-Length",
    ),
    "compressed body": (post(b"x", **{"Content-Encoding": "gzip"}), 415, "compressed"),
    "unknown model": (("POST", "/v2/models/cifar/infer", {}), 404, "cifar"),
    "unknown version": (("GET", "/v2/models/mnist/versions/9", {}), 404, "version"),
    "unknown model metadata": (("GET", "/v2/models/cifar", {}), 404, "unknown model"),
    "unknown model ready": (("GET", "/v2/models/cifar/ready", {}), 404, "unknown model"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_v2_bad_request_gets_protocol_error(http: httpx.Client, case: str) -> None:
    (method, path, arguments), status, words = BAD_REQUESTS[case]
    response = http.request(method, path, **arguments)
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert words in body["error"]


def test_v2_binary_response_declares_header_length(http: httpx.Client, digits: np.ndarray) -> None:
    request = pixels_request(data=pixels_of(digits[:1]).ravel().tolist())
    request["parameters"] = {"binary_data_output": True}
    response = http.post(INFER, json=request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.content[:length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 40}
    sizes = [output["parameters"]["binary_data_size"] for output in header["outputs"]]
    assert len(response.content) == length + sum(sizes)


def test_v2_other_routes_keep_detail_errors(http: httpx.Client) -> None:
    response = http.post("/predict")
    assert response.status_code == 422
    assert "detail" in response.json()
