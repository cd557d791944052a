"""Before any load: each server answers real MNIST digits with 200 and (unless it is the ceiling)
the right digit, as often as a real model does (the shipped one reads 99 % of the test set; at
most one sample in 20 may be misread). The bodies posted here are the exact bytes wrk posts."""

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


MAX_WRONG = 0.05  # of the digits checked at once


def _misread(prediction: object, digit: Digit, what: str) -> list[str]:
    """[] if `prediction` names the digit's label, else the one line saying what it got."""
    got = prediction.get("digit") if isinstance(prediction, dict) else None
    if got == digit.label:
        return []
    return [f"{what}: MNIST test digit #{digit.index} is a {digit.label}, got {got}"]


def _check_digits(misread: list[str], checked: int) -> None:
    if len(misread) > MAX_WRONG * checked:
        raise CheckError(f"{len(misread)} of {checked} digits misread; " + "; ".join(misread[:3]))


def check_server(
    url: str, samples: list[Digit], load_digit: Digit, batch: list[Digit], *, answers: bool
) -> Answers:
    """POST each sample to /predict and the batch to /predict/batch; raise CheckError on a
    non-200 or (with `answers`) a wrong digit. Return the answers to the two load bodies."""
    misread: list[str] = []
    with httpx.Client(base_url=url, timeout=30.0, trust_env=False) as client:
        for digit in samples:
            response = _post(client, "/predict", multipart("file", [digit]))
            what = f"{url}/predict #{digit.index}"
            _expect(response, what)
            misread += _misread(response.json(), digit, what)
        single = _post(client, "/predict", multipart("file", [load_digit]))
        _expect(single, f"{url}/predict (load body)")
        many = _post(client, "/predict/batch", multipart("files", batch))
        _expect(many, f"{url}/predict/batch (load body)")
    if answers:
        _check_digits(misread, len(samples))
        if _misread(single.json(), load_digit, "load body"):
            raise CheckError(f"{url}/predict (load body): {single.text[:300]}")
        results = many.json().get("results", [])
        if len(results) != len(batch):
            raise CheckError(f"{url}/predict/batch: {len(results)} results for {len(batch)} files")
        batch_misread = [
            line
            for digit, result in zip(batch, results, strict=True)
            for line in _misread(result.get("prediction"), digit, f"{url}/predict/batch")
        ]
        _check_digits(batch_misread, len(batch))
    return Answers(single.content, many.content)
