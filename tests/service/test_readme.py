"""The README's examples answer what the README says, run as written against a real server."""

import json
import re
import subprocess
import sys

import httpx
import pytest

from tests.support import ROOT

README = (ROOT / "README.md").read_text()
README_URL = "127.0.0.1:8000"

pytestmark = pytest.mark.server


def python_example(marker: str) -> str:
    """The README's ```python block containing `marker`."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    (block,) = [block for block in blocks if marker in block]
    return block


def test_readme_triton_example_prints_what_it_says(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = server
    block = python_example("tritonclient.http")
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    code = block.replace(README_URL, url.removeprefix("http://"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected


def test_readme_curl_example_answers_as_shown(server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, url = server
    command = "curl -F file=@docs/samples/digit.png http://127.0.0.1:8000/predict"
    shown = README[README.index(command) + len(command) :].split("```")[0]
    shown_json = json.loads(
        "".join(line.lstrip("# ") for line in shown.strip().splitlines()).replace(
            "...10 floats...", "0"
        )
    )
    data = (ROOT / "docs/samples/digit.png").read_bytes()
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        answer = http.post("/predict", files={"file": ("digit.png", data, "image/png")}).json()
    for key in ("digit", "normalized", "model", "image"):
        assert answer[key] == shown_json[key], key
    assert round(answer["confidence"], 4) == shown_json["confidence"]
    for shown_p, real_p in zip(
        shown_json["probabilities"][:2], answer["probabilities"], strict=False
    ):
        assert f"{real_p:.1e}" == f"{shown_p:.1e}"
