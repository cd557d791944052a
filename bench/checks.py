"""Before any load: each server answers real MNIST digits with 200 and (unless it is the ceiling)
the right digit. The bodies posted here are the exact bytes wrk posts afterwards."""

from dataclasses import dataclass

import httpx

from bench.samples import Digit, content_type, multipart


class CheckError(AssertionError):
    """A server answered a sample digit wrongly; the message names the digit and the answer."""


@dataclass(frozen=True)
class Answers:
    predict: bytes  # the answer to the single-digit load body
    batch: bytes  # the answer to the 64-digit load body


def _post(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": content_type()})


def _expect(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise CheckError(f"{what}: status {response.status_code}: {response.text[:300]}")


def _check_digit(prediction: object, digit: Digit, what: str) -> None:
    got = prediction.get("digit") if isinstance(prediction, dict) else None
    if got != digit.label:
        raise CheckError(f"{what}: MNIST test digit #{digit.index} is a {digit.label}, got {got}")


def check_server(
    url: str, samples: list[Digit], load_digit: Digit, batch: list[Digit], *, answers: bool
) -> Answers:
    """POST each sample to /predict and the batch to /predict/batch; raise CheckError on a
    non-200 or (with `answers`) a wrong digit. Return the answers to the two load bodies."""
    with httpx.Client(base_url=url, timeout=30.0, trust_env=False) as client:
        for digit in samples:
            response = _post(client, "/predict", multipart("file", [digit]))
            what = f"{url}/predict #{digit.index}"
            _expect(response, what)
            if answers:
                _check_digit(response.json(), digit, what)
        single = _post(client, "/predict", multipart("file", [load_digit]))
        _expect(single, f"{url}/predict (load body)")
        many = _post(client, "/predict/batch", multipart("files", batch))
        _expect(many, f"{url}/predict/batch (load body)")
    if answers:
        _check_digit(single.json(), load_digit, f"{url}/predict (load body)")
        results = many.json().get("results", [])
        if len(results) != len(batch):
            raise CheckError(f"{url}/predict/batch: {len(results)} results for {len(batch)} files")
        for digit, result in zip(batch, results, strict=True):
            _check_digit(result.get("prediction"), digit, f"{url}/predict/batch")
    return Answers(single.content, many.content)
