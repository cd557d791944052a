"""Overload and faults against real `python -m app` processes: a soak, slow clients, big uploads
at once, SIGTERM mid-request, a killed worker, a model file broken on disk.

SOAK_SECONDS=60 SOAK_CONCURRENCY=64 runs the long soak (CI: 15 s at 16).
"""

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from app.imaging import decoder, pipeline
from tests import support
from tests.support import SHIPPED_MODEL, multipart, part, procfs, servers
from tests.support.fuzz_requests import http
from tests.support.loadgen import DIGIT_28, Load, load, settled

pytestmark = pytest.mark.server

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "15"))
SOAK_CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "16"))
WARM_UP_SECONDS = 3.0


@dataclass
class Soak:
    load: Load
    before: procfs.Holdings
    after: procfs.Holdings


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Soak:
    with servers.running(tmp_path_factory.mktemp("soak")) as server:
        pid = server.process.pid
        load(server.url, WARM_UP_SECONDS, SOAK_CONCURRENCY, seed=1000)  # pools and caches fill
        before = settled(pid, procfs.holdings(pid), timeout_s=2)
        result = load(server.url, SOAK_SECONDS, SOAK_CONCURRENCY)
        after = settled(pid, before)
    print(
        f"\nsoak: {result.requests} requests in {SOAK_SECONDS:g} s at concurrency "
        f"{SOAK_CONCURRENCY}, {len(result.errors)} errors, {result.backpressure} 503s; "
        f"before {before}, after {after}"
    )
    return Soak(result, before, after)


def test_soak_answers_each_request_as_expected_or_503_with_retry_after(soak: Soak) -> None:
    """The load generator counts a 503 with Retry-After as backpressure; any other status a
    call does not expect, and every transport error, is an error."""
    assert soak.load.requests > 100
    assert not soak.load.errors, soak.load.errors[:10]
    answered = sum(soak.load.statuses.values())
    assert answered == soak.load.requests
    refused = sum(n for key, n in soak.load.statuses.items() if key.endswith(" 503"))
    assert refused == soak.load.backpressure


def test_soak_memory_grows_under_10_percent(soak: Soak) -> None:
    assert soak.after.rss_mb < soak.before.rss_mb * 1.10, (soak.before, soak.after)


def test_soak_leaks_no_file_descriptors(soak: Soak) -> None:
    assert soak.after.fds <= soak.before.fds, (soak.before, soak.after)


def test_soak_leaks_no_threads(soak: Soak) -> None:
    assert soak.after.threads <= soak.before.threads, (soak.before, soak.after)


# --- slow clients --------------------------------------------------------------------------

BODY_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Running]:
    """A server that gives clients BODY_TIMEOUT_S to send a request body; it serves a copy of
    the shipped version as version 1 of `<its log's folder>/repository`."""
    folder = tmp_path_factory.mktemp("impatient")
    shutil.copytree(SHIPPED_MODEL.parent, folder / "repository" / "mnist" / "1")
    env = {"MNIST_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    with servers.running(folder, "--repository", str(folder / "repository"), env=env) as server:
        yield server


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def trickle(url: str, request: bytes, every_s: float, send_for_s: float) -> tuple[bytes, float]:
    """Send the headers, then a byte of the body every `every_s` for `send_for_s` seconds, then
    wait; return what came back and the seconds until the server answered or hung up."""
    started = time.monotonic()
    received = b""
    head = request.index(b"\r\n\r\n") + 4
    with socket.create_connection(address(url), timeout=30) as sock:
        sock.sendall(request[:head])
        sock.setblocking(False)
        try:
            for byte in request[head:]:
                if time.monotonic() - started > send_for_s:
                    break
                with contextlib.suppress(BlockingIOError):
                    if not (chunk := sock.recv(65_536)):
                        return received, time.monotonic() - started
                    received += chunk
                sock.send(bytes([byte]))
                time.sleep(every_s)
            sock.settimeout(30)
            while chunk := sock.recv(65_536):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):  # it hung up while bytes were still
            pass  # arriving (a reset, or EPIPE on the next send): the same
    return received, time.monotonic() - started


def upload_request(image: bytes) -> bytes:
    return http(multipart(part(b"file", image)))


def test_slow_body_gets_408_json_and_connection_closed(impatient: servers.Running) -> None:
    # A byte every 0.1 s for 1 s, then nothing: the body is never complete.
    answer, seconds = trickle(impatient.url, upload_request(DIGIT_28), 0.1, 1.0)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"connection: close" in head.lower()
    assert "not received within" in json.loads(body)["detail"]
    assert BODY_TIMEOUT_S <= seconds < BODY_TIMEOUT_S + 5


def test_slow_clients_do_not_stop_others_being_served(impatient: servers.Running) -> None:
    request = upload_request(DIGIT_28)
    with ThreadPoolExecutor(20) as pool:
        slow = [pool.submit(trickle, impatient.url, request, 0.2, 30) for _ in range(20)]
        time.sleep(0.5)  # all slow clients are connected and dribbling
        with httpx.Client(base_url=impatient.url, timeout=10) as client:
            for _ in range(20):
                started = time.monotonic()
                response = client.post("/predict", files={"file": ("d.png", DIGIT_28)})
                assert response.status_code == 200
                assert time.monotonic() - started < 1.0
        ends = [future.result() for future in slow]
    # Each was cut off at the body timeout: a 408, or (still sending) a reset that beat it.
    assert all(not answer or answer.startswith(b"HTTP/1.1 408") for answer, _ in ends), ends
    assert all(seconds < BODY_TIMEOUT_S + 5 for _, seconds in ends), ends


def test_idle_connections_do_not_stop_others_being_served(impatient: servers.Running) -> None:
    """Headers that never end: uvicorn has no timeout for them, but they cost only a socket."""
    idle = [socket.create_connection(address(impatient.url)) for _ in range(100)]
    try:
        for sock in idle:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        with httpx.Client(base_url=impatient.url, timeout=10) as client:
            response = client.post("/predict", files={"file": ("d.png", DIGIT_28)})
        assert response.status_code == 200
    finally:
        for sock in idle:
            sock.close()


# --- big uploads at once -------------------------------------------------------------------


def big_rgba_png(side: int = 4000) -> bytes:
    """A 16-megapixel RGBA drawing: ~80 KB of file, 64 MB once decoded."""
    image = Image.new("RGBA", (side, side), (255, 255, 255, 0))
    points = [(side // 4, side // 5), (3 * side // 4, side // 5), (side // 2, 4 * side // 5)]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 0, 255), width=side // 13)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_many_max_size_uploads_at_once_stay_within_memory(impatient: servers.Running) -> None:
    """Decoding is bounded by MNIST_API_DECODE_THREADS, so 24 at once cost what 2 do."""
    data = big_rgba_png()
    pid = impatient.process.pid
    before = procfs.peak_rss_mb(pid)

    def send(_: int) -> int:
        with httpx.Client(base_url=impatient.url, timeout=120) as client:
            return client.post("/predict", files={"file": ("big.png", data)}).status_code

    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(send, range(24)))
    assert statuses == [200] * 24
    assert procfs.peak_rss_mb(pid) - before < 450, (before, procfs.peak_rss_mb(pid))


def blank_png(side: int = 4000) -> bytes:
    """~2 KB of PNG that declares 16 megapixels."""
    buffer = io.BytesIO()
    Image.new("1", (side, side), 0).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def test_small_file_declaring_many_pixels_is_decoded_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small uploads are decoded inline, on the event loop; a tiny PNG declaring 4000x4000
    would stall every other request there (measured: /healthz p99 3 -> 280 ms)."""
    threads: list[str] = []

    def prepare_image(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return pipeline.prepare_image(*args, **kwargs)

    monkeypatch.setattr(decoder, "prepare_image", prepare_image)
    tiny_but_huge = blank_png()
    assert len(tiny_but_huge) < 4096
    assert client.post("/predict", files={"file": ("b.png", tiny_but_huge)}).status_code == 422
    assert client.post("/predict", files={"file": ("d.png", DIGIT_28)}).status_code == 200
    worker = [name.startswith("AnyIO worker") for name in threads]
    assert worker == [True, False]


# --- SIGTERM -------------------------------------------------------------------------------


def test_sigterm_finishes_requests_in_flight_then_exits_0(tmp_path: Path) -> None:
    request = upload_request(DIGIT_28)
    half = request.index(b"\r\n\r\n") + 4 + 100
    with servers.running(tmp_path) as server:
        in_flight = [socket.create_connection(address(server.url), timeout=30) for _ in range(8)]
        for sock in in_flight:
            sock.sendall(request[:half])  # headers and part of the body: the app is reading
        support.eventually(lambda: in_flight_requests(server.url) >= 8 + 1, 30)  # + the scrape
        server.process.send_signal(signal.SIGTERM)
        support.eventually(lambda: refuses_connections(server.url), 10, "still accepting")
        answers = []
        for sock in in_flight:
            sock.sendall(request[half:])
            answers.append(read_answer(sock))
            sock.close()
        assert server.process.wait(timeout=30) == 0
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers[:2]
    assert all(json.loads(answer.partition(b"\r\n\r\n")[2])["digit"] == 7 for answer in answers)


def in_flight_requests(url: str) -> float:
    """The requests the app is handling, from /metrics (the scrape counts itself)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r"^http_requests_in_flight (\S+)$", text, re.M)
    assert found, text
    return float(found.group(1))


def refuses_connections(url: str) -> bool:
    try:
        socket.create_connection(address(url), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def read_answer(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65_536):
        received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head.lower())
        if length and len(body) >= int(length.group(1)):
            break
    return received


# --- a worker dies -------------------------------------------------------------------------


def workers(pid: int) -> set[int]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    return {
        child
        for child in procfs.children(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    }


def loaded_workers(url: str) -> set[int]:
    """The pids whose model is loaded, from the multiprocess metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r'^mnist_model_loaded_timestamp_seconds\{pid="(\d+)"\} (\S+)$'
    return {int(pid) for pid, value in re.findall(pattern, text, re.M) if float(value) > 0}


def test_killed_worker_is_replaced_and_readiness_holds(tmp_path: Path) -> None:
    env = {"MNIST_API_INFERENCE_THREADS": "1"}
    with servers.running(tmp_path, "--workers", "2", env=env) as server:
        pid = server.process.pid

        def both_loaded() -> set[int] | None:
            now = workers(pid)
            return now if len(now) == 2 and loaded_workers(server.url) == now else None

        original = support.eventually(
            both_loaded, support.READY_TIMEOUT_S, "two workers never both loaded", interval_s=0.5
        )
        victim = min(original)
        os.kill(victim, signal.SIGKILL)
        ready = []

        def replaced() -> set[int] | None:
            ready.append(httpx.get(f"{server.url}/readyz", timeout=10).status_code)
            now = both_loaded()
            return now if now is not None and victim not in now else None

        replacement = support.eventually(
            replaced,
            support.READY_TIMEOUT_S,
            lambda: f"worker {victim} not replaced: {workers(pid)}",
            interval_s=0.3,
        )
        assert victim not in replacement, replacement
        assert len(replacement) == 2, replacement
        assert loaded_workers(server.url) == replacement
    assert set(ready) == {200}, Counter(ready)


# --- the model file ------------------------------------------------------------------------


def test_model_broken_on_disk_while_serving_keeps_the_loaded_one(
    impatient: servers.Running,
) -> None:
    litert = impatient.log.parent / "repository" / "mnist" / "1" / "model.tflite"
    with httpx.Client(base_url=impatient.url, timeout=30) as client:
        sha = client.get("/model").json()["sha256"]
        litert.write_bytes(litert.read_bytes()[:1000])  # a deploy that died half-way through

        def reload_failed() -> dict[str, Any] | None:
            entry: dict[str, Any] = client.post("/v2/repository/index").json()[0]
            if "new files failed" in entry["reason"]:
                return entry
            response = client.post("/predict", files={"file": ("d.png", DIGIT_28)})
            assert response.status_code == 200
            return None

        index = "/v2/repository/index"
        entry = support.eventually(
            reload_failed, 30, lambda: str(client.post(index).json()[0]), interval_s=0.2
        )
        assert entry["state"] == "READY"  # the reload failed: the files loaded before serve on
        assert "differs from the one its card records" in entry["reason"]
        response = client.post("/predict", files={"file": ("d.png", DIGIT_28)})
        assert response.status_code == 200
        assert client.get("/model").json()["sha256"] == sha
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("workers", ["1", "2"])
def test_truncated_litert_file_refused_at_startup_with_one_line(
    tmp_path: Path, workers: str
) -> None:
    folder = Path(shutil.copytree(SHIPPED_MODEL.parent, tmp_path / "mnist" / "1"))
    tflite = folder / "model.tflite"
    tflite.write_bytes(tflite.read_bytes()[:50_000])
    command = servers.app_command("--port", str(support.free_port()), "--workers", workers)
    done = subprocess.run(
        [*command, "--repository", str(tmp_path)],
        env=servers.clean_env(),
        capture_output=True,
        text=True,
        timeout=support.READY_TIMEOUT_S,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()  # uvicorn's supervisor adds a plain line of its own
    messages = {json.loads(line)["message"] for line in lines if line.startswith("{")}
    (line,) = {message for message in messages if str(tflite) in message}  # one per worker
    assert f"{tflite} differs from the one its card records" in line
    assert f"python -m training export {folder}" in line


def test_unloadable_model_with_workers_exits_nonzero(refused_models: dict[str, Path]) -> None:
    """A LiteRT file its card vouches for that LiteRT cannot run fails in each worker;
    uvicorn.run would return normally then, so `python -m app` must still fail."""
    folder = refused_models["not-litert"]
    command = servers.app_command("--port", str(support.free_port()), "--workers", "2")
    env = {**servers.clean_env(), "MNIST_API_INFERENCE_THREADS": "1"}
    done = subprocess.run(
        [*command, "--repository", str(folder.parents[1])],
        env=env,
        capture_output=True,
        text=True,
        timeout=support.READY_TIMEOUT_S,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "LiteRT cannot run this model" in done.stderr
    assert "Uvicorn running on" not in done.stderr
