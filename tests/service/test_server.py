"""`python -m app` as a real process: it serves, stops cleanly, and refuses a bad model outright."""

import contextlib
import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests import support
from tests.support import servers
from training.data import Mnist

pytestmark = pytest.mark.server

EXPORT = "python -m training export"

# case -> words the one-line error must contain besides the version's folder
REFUSALS = {
    "bare": "no model.tflite",
    "stale": "was made from another model.keras",
    "corrupt-litert-file": "differs from the one its card records",
    "not-litert": "LiteRT cannot run this model",
    "wrong-input-size": "expected [(784,)] -> [(10,)]",
    "malformed-threshold": "`abstention.threshold` must be a number between 0 and 1",
}


def error_lines(stderr: str, path: Path) -> list[str]:
    """The stderr lines that name `path`: JSON log lines above info, decoded to their message,
    and any other line (a traceback's, say)."""
    lines = []
    for line in stderr.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            record = json.loads(line)
            if record["level"] in ("debug", "info"):
                continue
            line = record["message"]
        if str(path) in line:
            lines.append(line)
    return lines


def test_server_predicts_a_real_png(
    server: tuple[subprocess.Popen[bytes], str], digit_png: bytes, mnist: Mnist
) -> None:
    _, url = server
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        response = http.post("/predict", files={"file": ("digit.png", digit_png, "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == int(mnist.y_test[0])


def test_server_exits_0_on_sigterm(server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, _ = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


@pytest.mark.parametrize("case", list(REFUSALS))
def test_server_refuses_model_with_nonzero_exit(
    refused_startups: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    assert refused_startups[case].returncode != 0


@pytest.mark.parametrize("case", list(REFUSALS))
def test_server_refusal_is_one_line_naming_the_version_and_why(
    refused_startups: dict[str, subprocess.CompletedProcess[str]],
    refused_models: dict[str, Path],
    case: str,
) -> None:
    (line,) = error_lines(refused_startups[case].stderr, refused_models[case])
    assert REFUSALS[case] in line
    if case in ("bare", "stale", "corrupt-litert-file"):  # files an export would make right
        assert f"{EXPORT} {refused_models[case]}" in line


@pytest.mark.parametrize("case", list(REFUSALS))
def test_server_refusal_has_no_traceback(
    refused_startups: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    assert "Traceback" not in refused_startups[case].stderr


@pytest.mark.parametrize("case", list(REFUSALS))
def test_server_refusal_never_serves(
    refused_startups: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    assert "Uvicorn running on" not in refused_startups[case].stderr


def test_server_prints_only_json_lines(tmp_path: Path, digit_png: bytes) -> None:
    """Native libraries' lines (LiteRT's XNNPACK) included: a log shipper parses all."""
    with servers.running(tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            assert http.post("/predict", files={"file": ("d.png", digit_png)}).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
    lines = server.log.read_text().splitlines()
    assert any("Application startup complete" in line for line in lines)
    for line in lines:
        assert isinstance(json.loads(line), dict), line


@pytest.mark.parametrize(
    ("make_folder", "words"), [(True, "no model versions in"), (False, "cannot read")]
)
def test_repository_without_versions_refused_with_one_line(
    tmp_path: Path, make_folder: bool, words: str
) -> None:
    if make_folder:
        (tmp_path / "mnist").mkdir()
    command = servers.app_command("--port", str(support.free_port()), "--repository", str(tmp_path))
    done = subprocess.run(
        command, env=servers.clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"{words} {tmp_path / 'mnist'}" in line
    assert "MNIST_API_MODEL_REPOSITORY" in line
