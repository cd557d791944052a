""" "Not a digit" on a real `python -m app`: the stock Triton HTTP client decodes the not-a-digit
outputs (BOOL, BYTES) in JSON and binary; bad abstention settings stop it at startup."""

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton

from tests.support import ROOT, png, servers
from tests.support.drawings import noise_texture
from tests.support.versions import THRESHOLD, carded_version
from training.data import Mnist

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[triton.InferenceServerClient]:
    root = tmp_path_factory.mktemp("abstaining-server")
    carded_version(root, 1, abstention={"threshold": THRESHOLD, "score": "max_probability"})
    with servers.running(root, "--repository", str(root)) as running:
        triton_client = triton.InferenceServerClient(running.url.removeprefix("http://"))
        yield triton_client
        triton_client.close()


@pytest.fixture(scope="module")
def images(mnist: Mnist) -> np.ndarray:
    """An MNIST test digit (a 7), then a noise texture."""
    return np.stack([mnist.x_test[0], noise_texture()])


@pytest.mark.parametrize("binary", [True, False])
def test_triton_client_reads_not_a_digit(
    client: triton.InferenceServerClient, images: np.ndarray, binary: bool
) -> None:
    tensor = triton.InferInput("pixels", [2, 784], "FP32")
    tensor.set_data_from_numpy(images.reshape(2, 784).astype(np.float32) / 255, binary_data=binary)
    names = ("probabilities", "not_a_digit", "not_a_digit_reason")
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in names]
    result = client.infer("mnist", [tensor], outputs=outputs)
    flags = result.as_numpy("not_a_digit")
    assert flags.dtype == np.bool_
    assert flags.tolist() == [False, True]
    reasons = [
        r.decode() if isinstance(r, bytes) else r for r in result.as_numpy("not_a_digit_reason")
    ]
    assert reasons == ["", "low_confidence"]
    assert result.as_numpy("probabilities").max(axis=1)[1] < THRESHOLD


def test_triton_client_gets_every_output_by_default(
    client: triton.InferenceServerClient, images: np.ndarray
) -> None:
    tensor = triton.InferInput("image", [2], "BYTES")
    tensor.set_data_from_numpy(np.array([png(image) for image in images], dtype=np.object_))
    result = client.infer("mnist", [tensor])
    assert result.as_numpy("probabilities").shape == (2, 10)
    assert result.as_numpy("not_a_digit").tolist() == [False, True]
    metadata = client.get_model_metadata("mnist")
    assert [output["name"] for output in metadata["outputs"]] == [
        "probabilities",
        "not_a_digit",
        "not_a_digit_reason",
    ]


def test_triton_client_classification_says_not_a_digit(
    client: triton.InferenceServerClient, images: np.ndarray
) -> None:
    tensor = triton.InferInput("pixels", [2, 784], "FP32")
    tensor.set_data_from_numpy(images.reshape(2, 784).astype(np.float32) / 255)
    top3 = triton.InferRequestedOutput("probabilities", class_count=3)
    classes = client.infer("mnist", [tensor], outputs=[top3]).as_numpy("probabilities")
    assert classes.shape == (2, 3)
    assert classes[0][0].decode().endswith(":7")
    assert classes[1][0].decode().split(":")[1:] == ["-1", "not_a_digit"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MNIST_API_ABSTAIN_THRESHOLD", "1.5"),
        ("MNIST_API_ABSTAIN_THRESHOLD", "abc"),
        ("MNIST_API_ABSTAIN_THRESHOLD", "0"),
        ("MNIST_API_ABSTAIN", "maybe"),
    ],
)
def test_bad_abstention_setting_stops_the_server(variable: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "--port", "1"],
        cwd=ROOT,
        env={**servers.clean_env(), variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    field = variable.removeprefix("MNIST_API_").lower()
    assert field in done.stderr
    assert f"'{value}'" in done.stderr
    if variable == "MNIST_API_ABSTAIN_THRESHOLD":
        assert f"{variable} must be a number between 0 and 1 (exclusive), not '{value}'" in (
            done.stderr
        )
