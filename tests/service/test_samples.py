"""docs/samples: the README's quick-start images, read right by the shipped model over real HTTP."""

import subprocess

import httpx
import pytest

from tests.support import PREDICTION_KEYS, ROOT

SAMPLES = ROOT / "docs" / "samples"
EXPECTED = {"digit.png": 7, "drawn-3.png": 3, "typed-4.png": 4, "mnist-style-2.png": 2}


def test_samples_are_the_ones_the_readme_names() -> None:
    assert sorted(path.name for path in SAMPLES.glob("*.png")) == sorted(EXPECTED)
    readme = (ROOT / "README.md").read_text()
    assert "curl -F file=@docs/samples/digit.png http://127.0.0.1:8000/predict" in readme


@pytest.mark.server
@pytest.mark.parametrize(("name", "digit"), EXPECTED.items())
def test_sample_is_read_right_over_http(
    server: tuple[subprocess.Popen[bytes], str], name: str, digit: int
) -> None:
    _, url = server
    data = (SAMPLES / name).read_bytes()
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        response = http.post("/predict", files={"file": (name, data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PREDICTION_KEYS
    assert body["not_a_digit"] is None
    assert body["digit"] == digit
    assert body["confidence"] > 0.9
