"""Thousands of hostile uploads and requests over real HTTP to a real `python -m app`: each gets a
200 or a 4xx with a JSON `detail`, never a 5xx or a hang, and the server stays ready and lean.

The corpus is tests/support/fuzz_corpus.py (seeded); FUZZ_SCALE=4 multiplies its random families.
"""

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import servers
from tests.support.fuzz_corpus import Upload, bombs, corpus, seeds
from tests.support.fuzz_requests import (
    FRAMING,
    FRAMING_ANSWER,
    JSON,
    NONE,
    RawCase,
    exchange,
    raw_cases,
)
from tests.support.procfs import rss_mb

pytestmark = [pytest.mark.fuzz, pytest.mark.server]

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
CONCURRENCY = 6
CHUNK = 250  # cases between two readiness and memory checks
REQUEST_TIMEOUT_S = 30.0  # per request: a hang fails the case instead of the run
BODY_TIMEOUT_S = 2  # so that lying Content-Lengths are answered (408) within the run
RSS_GROWTH_LIMIT_MB = 100
BATCH_FILES = 5


@dataclass
class FuzzRun:
    """What the run saw: problems per case, answers by status, readiness and memory over time."""

    problems: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    cases: int = 0
    not_ready: list[int] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    seconds: float = 0.0
    log: Path = Path()
    alive: bool = True


def answer_problem(status: int, content_type: str, body: bytes, key: str = "detail") -> str | None:
    """Why an answer breaks the contract (200, or 4xx with a JSON `detail` string; `error` under
    /v2), or None."""
    if not (status == 200 or 400 <= status < 500):
        return f"status {status}: {body[:200]!r}"
    if not content_type.startswith("application/json"):
        return f"status {status} with content type {content_type!r}"
    try:
        payload = json.loads(body)
    except ValueError:
        return f"status {status} with a body that is not JSON: {body[:200]!r}"
    if status != 200 and not isinstance(payload.get(key), str):
        return f"status {status} without a `{key}` string: {body[:200]!r}"
    return None


def send_upload(http: httpx.Client, upload: Upload) -> tuple[int, str | None]:
    files = {"file": (upload.filename, upload.data, "application/octet-stream")}
    response = http.post("/predict", files=files)
    return response.status_code, answer_problem(
        response.status_code, response.headers.get("content-type", ""), response.content
    )


def send_batch(http: httpx.Client, uploads: Sequence[Upload]) -> tuple[int, str | None]:
    files = [("files", (u.filename, u.data, "application/octet-stream")) for u in uploads]
    response = http.post("/predict/batch", files=files)
    problem = answer_problem(
        response.status_code, response.headers.get("content-type", ""), response.content
    )
    if problem is None and response.status_code == 200:
        for item in response.json()["results"]:
            error = item.get("error")
            if (item["prediction"] is None) == (error is None):
                problem = f"item {item['index']} has neither or both of prediction and error"
            elif error is not None and not 400 <= error["status"] < 500:
                problem = f"item {item['index']} has status {error['status']}"
    return response.status_code, problem


def send_raw(url: str, case: RawCase) -> tuple[int, str | None]:
    host, port = url.removeprefix("http://").split(":")
    answer = exchange(host, int(port), case, REQUEST_TIMEOUT_S)
    if answer is None:
        return 0, None if NONE in case.answers else "no answer"
    if answer.body == FRAMING_ANSWER and answer.status == 400:
        return 400, None if FRAMING in case.answers else "uvicorn refused the request as framing"
    if JSON not in case.answers:
        return answer.status, f"expected {case.answers}, got {answer.status}"
    content_type = answer.headers.get("content-type", "")
    key = "error" if case.request.startswith((b"POST /v2/", b"GET /v2/")) else "detail"
    return answer.status, answer_problem(answer.status, content_type, answer.body, key)


def cases(image: bytes) -> Iterator[tuple[str, object]]:
    """(name, case) for every upload, every batch of uploads and every raw request."""
    uploads = list(corpus(SCALE))
    for upload in uploads:
        yield upload.name, upload
    shuffled = random.Random(7).sample(uploads, len(uploads))
    for i in range(0, round(100 * SCALE) * BATCH_FILES, BATCH_FILES):
        group = tuple(shuffled[i : i + BATCH_FILES])
        yield f"batch-{i // BATCH_FILES}", group
    for raw in raw_cases(image):
        yield f"raw-{raw.name}", raw


def run_corpus(server: servers.Running) -> FuzzRun:
    run = FuzzRun(log=server.log)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    all_cases = list(cases(seeds()["PNG"]))
    started = time.monotonic()
    with (
        httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):

        def send(item: tuple[str, object]) -> tuple[str, int, str | None]:
            name, case = item
            try:
                if isinstance(case, Upload):
                    return name, *send_upload(http, case)
                if isinstance(case, RawCase):
                    return name, *send_raw(server.url, case)
                return name, *send_batch(http, case)  # type: ignore[arg-type]
            except (httpx.HTTPError, OSError) as exc:
                return name, 0, f"{type(exc).__name__}: {exc}"

        # Warm-up: the largest legal images once each, so the baseline already holds the heap
        # a worst-case decode needs; growth after it would be accumulation, i.e. a leak.
        for data in [*seeds().values(), *bombs().values()]:
            http.post("/predict", files={"file": ("warm-up", data)})
        run.rss_mb.append(rss_mb(server.process.pid))
        for start in range(0, len(all_cases), CHUNK):
            for name, status, problem in pool.map(send, all_cases[start : start + CHUNK]):
                run.cases += 1
                run.statuses[status] += 1
                if problem is not None:
                    run.problems[name] = problem
            if http.get("/readyz").status_code != 200:
                run.not_ready.append(start)
            run.rss_mb.append(rss_mb(server.process.pid))
    run.seconds = time.monotonic() - started
    run.alive = server.process.poll() is None
    print(
        f"\nfuzz-http: {run.cases} cases in {run.seconds:.1f} s, statuses {dict(run.statuses)}, "
        f"{len(run.problems)} problems, RSS {run.rss_mb[0]:.0f} -> {max(run.rss_mb):.0f} MB "
        f"(last {run.rss_mb[-1]:.0f} MB)"
    )
    return run


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzRun]:
    """One run of the whole corpus against a fresh server; the tests below judge its results."""
    env = {"MNIST_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    with servers.running(tmp_path_factory.mktemp("fuzz"), env=env) as server:
        yield run_corpus(server)


def test_fuzz_corpus_is_thousands_of_cases(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.cases >= 2000 * min(SCALE, 1)


def test_fuzz_every_answer_is_200_or_4xx_with_json_detail(fuzz_run: FuzzRun) -> None:
    shown = dict(list(fuzz_run.problems.items())[:20])
    assert not fuzz_run.problems, f"{len(fuzz_run.problems)} bad answers, e.g. {shown}"


def test_fuzz_server_stays_up_and_ready(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.alive
    assert not fuzz_run.not_ready, f"/readyz failed after chunks starting at {fuzz_run.not_ready}"


def test_fuzz_server_memory_stays_bounded(fuzz_run: FuzzRun) -> None:
    growth = max(fuzz_run.rss_mb) - fuzz_run.rss_mb[0]
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS over the run (MB): {fuzz_run.rss_mb}"


def test_fuzz_server_logged_no_5xx_or_traceback(fuzz_run: FuzzRun) -> None:
    """Including requests whose client hung up, which never saw an answer."""
    bad = []
    for line in fuzz_run.log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a Python warning Pillow printed for a corrupt file: not a failure
        if entry.get("status", 0) >= 500 or "exception" in entry or entry["level"] == "error":
            bad.append(line[:300])
    assert not bad, bad[:10]
