"""gRPC V2 on a real `python -m app`, through the stock Triton gRPC client (tritonclient.grpc).

The app's own generated modules are never imported here: they and tritonclient.grpc's define the
same protobuf symbols (package `inference`), which one process cannot hold twice.
"""

import itertools
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image
from pydantic import ValidationError
from tritonclient.utils import InferenceServerException

from app.settings import Settings
from tests.support import ROOT, encode, free_port, png, servers
from training.data import Mnist

pytestmark = pytest.mark.server

COUNT = 4
VERSION = "3"  # models/mnist/3/, the newest
SERVICE = "inference.GRPCInferenceService"
KEY = "grpc-test-key"
LOAD_CALLS, LOAD_STREAMS = 2000, 8


class Server:
    def __init__(self, running: servers.Running, grpc_port: int) -> None:
        self.url = running.url
        self.target = f"127.0.0.1:{grpc_port}"
        self.process = running.process


@contextmanager
def start(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    with servers.running(folder, "--grpc-port", str(port), *args, env=env) as running:
        yield Server(running, port)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start(tmp_path_factory.mktemp("grpc")) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """With an API key, and two workers bound to one gRPC port (SO_REUSEPORT)."""
    folder = tmp_path_factory.mktemp("grpc-key")
    with start(folder, "--workers", "2", env={"MNIST_API_API_KEY": KEY}) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[triton.InferenceServerClient]:
    triton_client = triton.InferenceServerClient(server.target)
    yield triton_client
    triton_client.close()


@pytest.fixture(scope="module")
def channel(server: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as grpc_channel:
        yield grpc_channel


@pytest.fixture(scope="module")
def digits(mnist: Mnist) -> np.ndarray:
    return mnist.x_test[:COUNT]


@pytest.fixture(scope="module")
def expected(server: Server, digits: np.ndarray) -> np.ndarray:
    """POST /predict's probabilities for the same digits, one upload each."""
    answers = []
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        for pixels in digits:
            response = http.post("/predict", files={"file": ("d.png", png(pixels), "image/png")})
            assert response.status_code == 200, response.text
            answers.append(response.json()["probabilities"])
    return np.array(answers, dtype=np.float32)


def pixel_input(pixels: np.ndarray) -> triton.InferInput:
    rows = (pixels.reshape(-1, 784) / np.float32(255)).astype(np.float32)
    tensor = triton.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    return tensor


def image_input(*files: bytes) -> triton.InferInput:
    tensor = triton.InferInput("image", [len(files)], "BYTES")
    tensor.set_data_from_numpy(np.array(files, dtype=np.object_))
    return tensor


def refusal(call: object, *args: object, **kwargs: object) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_grpc_server_is_live_and_ready(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("mnist")
    assert client.is_model_ready("mnist", VERSION)


def test_grpc_server_metadata_lists_extensions(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata.name == "mnist-serve"
    assert {"binary_tensor_data", "classification"} <= set(metadata.extensions)


@pytest.mark.parametrize("version", ["", VERSION])
def test_grpc_model_metadata_declares_tensors(
    client: triton.InferenceServerClient, version: str
) -> None:
    metadata = client.get_model_metadata("mnist", version)
    assert metadata.name == "mnist"
    assert list(metadata.versions) == [VERSION]
    inputs = {(t.name, t.datatype, tuple(t.shape)) for t in metadata.inputs}
    assert inputs == {("pixels", "FP32", (-1, 784)), ("image", "BYTES", (-1,))}
    assert [t.name for t in metadata.outputs] == [
        "probabilities",
        "not_a_digit",
        "not_a_digit_reason",
    ]


@pytest.mark.parametrize("index", range(COUNT))
def test_grpc_infer_fp32_equals_predict(
    client: triton.InferenceServerClient,
    mnist: Mnist,
    digits: np.ndarray,
    expected: np.ndarray,
    index: int,
) -> None:
    result = client.infer("mnist", [pixel_input(digits[index : index + 1])])
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (1, 10)
    assert probabilities.dtype == np.float32
    assert probabilities.argmax() == mnist.y_test[index]
    np.testing.assert_allclose(probabilities[0], expected[index], atol=1e-6)
    assert result.as_numpy("not_a_digit").tolist() == [False]


@pytest.mark.parametrize("index", range(COUNT))
def test_grpc_infer_png_bytes_equals_predict(
    client: triton.InferenceServerClient,
    mnist: Mnist,
    digits: np.ndarray,
    expected: np.ndarray,
    index: int,
) -> None:
    result = client.infer("mnist", [image_input(png(digits[index]))], model_version=VERSION)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.argmax() == mnist.y_test[index]
    np.testing.assert_allclose(probabilities[0], expected[index], atol=1e-6)
    assert result.get_response().model_version == VERSION


def test_grpc_infer_batch_keeps_the_request_id(
    client: triton.InferenceServerClient, digits: np.ndarray, expected: np.ndarray
) -> None:
    result = client.infer("mnist", [pixel_input(digits)], request_id="req-7")
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
    assert result.get_response().id == "req-7"


def test_grpc_infer_classification_names_the_digit(
    client: triton.InferenceServerClient, mnist: Mnist, digits: np.ndarray
) -> None:
    outputs = [triton.InferRequestedOutput("probabilities", class_count=2)]
    result = client.infer("mnist", [pixel_input(digits[:1])], outputs=outputs)
    [[best, _]] = result.as_numpy("probabilities").tolist()
    assert best.decode().split(":")[1] == str(mnist.y_test[0])


@pytest.mark.parametrize(
    ("model", "version", "tensor", "code", "message"),
    [
        ("other", "", "pixels", grpc.StatusCode.NOT_FOUND, "unknown model 'other'"),
        ("mnist", "9", "pixels", grpc.StatusCode.NOT_FOUND, "available versions: 3"),
        ("mnist", "", "short", grpc.StatusCode.INVALID_ARGUMENT, "must have shape"),
        ("mnist", "", "nan", grpc.StatusCode.INVALID_ARGUMENT, "finite and in [0, 1]"),
        ("mnist", "", "int32", grpc.StatusCode.INVALID_ARGUMENT, "must have datatype FP32"),
        ("mnist", "", "text", grpc.StatusCode.INVALID_ARGUMENT, "not a recognised image"),
        ("mnist", "", "rows", grpc.StatusCode.RESOURCE_EXHAUSTED, "the limit is 64"),
        ("mnist", "", "huge", grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
    ],
)
def test_grpc_infer_refusals_name_the_problem(
    client: triton.InferenceServerClient,
    digits: np.ndarray,
    model: str,
    version: str,
    tensor: str,
    code: grpc.StatusCode,
    message: str,
) -> None:
    rows = (digits[:1].reshape(1, 784) / np.float32(255)).astype(np.float32)
    inputs = {
        "pixels": pixel_input(digits[:1]),
        "short": triton.InferInput("pixels", [1, 783], "FP32"),
        "nan": triton.InferInput("pixels", [1, 784], "FP32"),
        "int32": triton.InferInput("pixels", [1, 784], "INT32"),
        "text": image_input(b"not an image"),
        "rows": triton.InferInput("pixels", [65, 784], "FP32"),
        "huge": image_input(b"\x89PNG" + bytes(6 * 1024 * 1024)),  # over the 5 MiB body limit
    }
    data = {
        "short": rows[:, :783],
        "nan": np.where(rows > 0, np.float32("nan"), rows),
        "int32": np.zeros((1, 784), np.int32),
        "rows": np.zeros((65, 784), np.float32),
    }
    if tensor in data:
        inputs[tensor].set_data_from_numpy(data[tensor])
    error = refusal(client.infer, model, [inputs[tensor]], model_version=version)
    assert error.status() == str(code)
    assert message in (error.message() or "")


def test_grpc_model_ready_of_another_model_is_not_found(
    client: triton.InferenceServerClient,
) -> None:
    error = refusal(client.is_model_ready, "other")
    assert error.status() == str(grpc.StatusCode.NOT_FOUND)


@pytest.mark.parametrize("service", ["", SERVICE])
def test_grpc_health_is_serving(channel: grpc.Channel, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {service.name for service in answer.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_grpc_calls_are_counted_with_rest_metrics(
    server: Server, client: triton.InferenceServerClient, digits: np.ndarray
) -> None:
    def scrape() -> str:
        return httpx.get(f"{server.url}/metrics", timeout=10, trust_env=False).text

    def value(text: str, series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    calls = 'grpc_requests_total{code="OK",method="ModelInfer"}'
    digit = f'mnist_predictions_total{{digit="7",version="{VERSION}"}}'  # x_test[0] is a 7
    before = scrape()
    client.infer("mnist", [pixel_input(digits[:1])])
    after = scrape()
    assert value(after, calls) == value(before, calls) + 1
    assert value(after, digit) == value(before, digit) + 1


def test_grpc_load_answers_every_call(
    server: Server, digits: np.ndarray, expected: np.ndarray
) -> None:
    """LOAD_CALLS infer calls over LOAD_STREAMS concurrent connections: every one answered."""

    def stream(calls: int) -> list[int]:
        with triton.InferenceServerClient(server.target) as stream_client:
            tensor = pixel_input(digits[:1])
            answers = []
            for _ in range(calls):
                probabilities = stream_client.infer("mnist", [tensor]).as_numpy("probabilities")
                answers.append(int(probabilities.argmax()))
            return answers

    with ThreadPoolExecutor(LOAD_STREAMS) as pool:
        results = list(pool.map(stream, [LOAD_CALLS // LOAD_STREAMS] * LOAD_STREAMS))
    answers = [answer for result in results for answer in result]
    assert len(answers) == LOAD_CALLS
    assert set(answers) == {int(expected[0].argmax())}


@pytest.mark.parametrize(
    ("headers", "message"),
    [(None, "needs an API key"), ({"x-api-key": "wrong"}, "not valid")],
)
def test_grpc_without_the_api_key_is_unauthenticated(
    keyed: Server, digits: np.ndarray, headers: dict[str, str] | None, message: str
) -> None:
    with triton.InferenceServerClient(keyed.target) as keyed_client:
        error = refusal(keyed_client.infer, "mnist", [pixel_input(digits[:1])], headers=headers)
    assert error.status() == str(grpc.StatusCode.UNAUTHENTICATED)
    assert message in (error.message() or "")


def test_grpc_with_the_api_key_answers(keyed: Server, digits: np.ndarray) -> None:
    with triton.InferenceServerClient(keyed.target) as keyed_client:
        assert keyed_client.is_server_ready()  # probes need no key, as /v2/health/ready
        for _ in range(4):  # calls over new connections reach either worker
            result = keyed_client.infer(
                "mnist", [pixel_input(digits[:1])], headers={"x-api-key": KEY}
            )
            assert result.as_numpy("probabilities").shape == (1, 10)
    with grpc.insecure_channel(keyed.target) as keyed_channel:
        stub = health_pb2_grpc.HealthStub(keyed_channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(("value", "port"), [(0, 0), ("0", 0), (8001, 8001), (" 65535 ", 65535)])
def test_grpc_port_setting_takes_a_port_or_zero(value: object, port: int) -> None:
    assert Settings(grpc_port=value).grpc_port == port


@pytest.mark.parametrize("value", [-1, 65536, "abc", "", True, 8001.5, "8001.0"])
def test_grpc_port_setting_refuses_what_is_not_a_port(value: object) -> None:
    with pytest.raises(ValidationError, match="MNIST_API_GRPC_PORT must be a port number"):
        Settings(grpc_port=value)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--grpc-port", "70000"], {}),
        (["--grpc-port", "-1"], {}),
        ([], {"MNIST_API_GRPC_PORT": "eighty"}),
        ([], {"MNIST_API_GRPC_PORT": "8001.5"}),
    ],
)
def test_grpc_port_that_is_not_a_port_stops_startup(args: list[str], env: dict[str, str]) -> None:
    command = servers.app_command("--port", str(free_port()), *args)
    done = subprocess.run(
        command,
        cwd=servers.ROOT,
        env={**servers.clean_env(), **env},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "MNIST_API_GRPC_PORT must be a port number from 1 to 65535, or 0" in done.stderr.decode()


def test_grpc_port_taken_stops_startup() -> None:
    with socket.socket() as taken:  # bound without SO_REUSEPORT: not shareable
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = servers.app_command("--port", str(free_port()), "--grpc-port", str(port))
        done = subprocess.run(
            command, cwd=ROOT, env=servers.clean_env(), capture_output=True, timeout=120
        )
    assert done.returncode != 0
    message = f"cannot serve gRPC on 127.0.0.1:{port}"
    assert message in done.stderr.decode()
    assert "MNIST_API_GRPC_PORT (0: no gRPC server)" in done.stderr.decode()


def test_grpc_overload_is_unavailable(
    tmp_path_factory: pytest.TempPathFactory, digits: np.ndarray
) -> None:
    """With a queue of one row, concurrent batches are refused as REST's 503: UNAVAILABLE."""
    folder = tmp_path_factory.mktemp("grpc-overload")
    batch = pixel_input(np.repeat(digits[:1], 64, axis=0))
    deadline = time.monotonic() + 30
    refused_once = threading.Event()

    def stream(target: str) -> list[str]:
        codes = []
        with triton.InferenceServerClient(target) as stream_client:
            while time.monotonic() < deadline and not refused_once.is_set():
                try:
                    stream_client.infer("mnist", [batch])
                    codes.append("OK")
                except InferenceServerException as exc:
                    codes.append(f"{exc.status()}: {exc.message()}")
                    refused_once.set()
        return codes

    overloaded = start(folder, env={"MNIST_API_QUEUE_MAX_ROWS": "1"})
    with overloaded as server, ThreadPoolExecutor(LOAD_STREAMS) as pool:
        targets = [server.target] * LOAD_STREAMS
        codes = [code for result in pool.map(stream, targets) for code in result]
    refused = f"{grpc.StatusCode.UNAVAILABLE}: inference queue is full"
    assert all(code == "OK" or code.startswith(refused) for code in codes), set(codes)
    assert any(code.startswith(refused) for code in codes)


def test_grpc_call_in_flight_at_shutdown_is_answered(
    tmp_path_factory: pytest.TempPathFactory, digits: np.ndarray
) -> None:
    """SIGTERM while large photos decode: the call is answered, then the server exits 0."""
    side = 4000  # 16 M pixels, the image limit: ~0.2 s each to decode, one at a time (the heavy
    # lane), so 16 of them (4.6 MB, under the message limit) are in flight for seconds
    photo = encode(Image.fromarray(255 - digits[0]).resize((side, side), Image.BILINEAR))
    answered: dict[str, float] = {}

    def call(target: str) -> None:
        with triton.InferenceServerClient(target) as call_client:
            result = call_client.infer("mnist", [image_input(*[photo] * 16)], client_timeout=60)
        assert result.as_numpy("probabilities").shape == (16, 10)
        answered["at"] = time.monotonic()

    with start(tmp_path_factory.mktemp("grpc-shutdown")) as server:
        caller = threading.Thread(target=call, args=(server.target,))
        caller.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        caller.join(timeout=60)
        assert server.process.wait(timeout=30) == 0
    assert answered["at"] > stopped


def test_grpc_docs_example_prints_what_it_says(server: Server) -> None:
    text = (ROOT / "docs" / "grpc.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("127.0.0.1:8001", server.target)
    lines = code.splitlines()
    shown = [line[2:] for before, line in itertools.pairwise(lines) if before.startswith("print(")]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[0] == shown[0]
    assert printed[1].startswith(shown[1].split(" ")[0])  # the best class and its score
