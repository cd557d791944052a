"""Bad requests -> the right 4xx with a JSON `detail` naming the problem; never a 5xx."""

import asyncio
import struct
import zlib
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from app.inference.batching import Overloaded
from app.settings import Settings
from tests.support import SMALL_BATCH_FILES, SMALL_UPLOAD_BYTES, encode, png
from tests.support.fakes import serving_with_engine

NOISE = png(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
DIGIT = np.zeros((28, 28), dtype=np.uint8)
DIGIT[6:22, 12:16] = 255  # a centred "1"
WHITE = png(np.full((28, 28), 255, dtype=np.uint8))
BOUNDARY = "testboundary"


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims `width` x `height` pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def image_file(data: bytes, name: str = "upload.png", field: str = "file") -> dict[str, Any]:
    return {"files": {field: (name, data, "application/octet-stream")}}


def multipart_stream(total: int) -> Iterator[bytes]:
    """A multipart body of about `total` bytes sent in chunks, so without a Content-Length."""
    yield (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    for _ in range(total // 65536 + 1):
        yield b"\0" * 65536
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def chunked_upload(settings: Settings) -> dict[str, Any]:
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    return {
        "content": multipart_stream(settings.max_upload_bytes),
        "headers": {"content-type": content_type},
    }


RequestFor = Callable[[Settings], dict[str, Any]]


def fixed(**kwargs: Any) -> RequestFor:
    return lambda settings: kwargs


# id, path, request for the default client, expected status, words the detail must contain
CASES: list[tuple[str, str, RequestFor, int, str]] = [
    ("missing-field", "/predict", fixed(files=[("note", (None, b"hi"))]), 422, "`file`"),
    ("wrong-field-name", "/predict", fixed(**image_file(NOISE, field="image")), 422, "`file`"),
    ("not-multipart", "/predict", fixed(json={"file": "a.png"}), 422, "multipart"),
    ("batch-missing-field", "/predict/batch", fixed(**image_file(NOISE)), 422, "`files`"),
    ("empty-file", "/predict", fixed(**image_file(b"")), 400, "empty"),
    ("random-bytes", "/predict", fixed(**image_file(bytes(range(256)) * 4)), 415, "not a"),
    ("truncated-png", "/predict", fixed(**image_file(NOISE[: len(NOISE) // 2])), 400, "truncated"),
    ("text-file", "/predict", fixed(**image_file(b"seven\n" * 50, "d.txt")), 415, "formats"),
    ("ico", "/predict", fixed(**image_file(encode(Image.fromarray(DIGIT), "ICO"))), 415, "ICO"),
    ("ppm", "/predict", fixed(**image_file(encode(Image.fromarray(DIGIT), "PPM"))), 415, "PPM"),
    (
        "png-bomb",
        "/predict",
        fixed(**image_file(png_header(100_000, 100_000))),
        413,
        "the limit is",
    ),
    ("over-max-pixels", "/predict", fixed(**image_file(png_header(5000, 4000))), 413, "pixels"),
    ("blank-white", "/predict", fixed(**image_file(WHITE)), 422, "blank"),
    (
        "blank-white-not-normalized",
        "/predict",
        fixed(params={"normalize": "false"}, **image_file(WHITE)),
        422,
        "blank",
    ),
    (
        "body-over-limit",
        "/predict",
        lambda settings: image_file(b"\0" * (settings.max_upload_bytes + 1)),
        413,
        "limit",
    ),
    ("chunked-body-over-limit", "/predict", chunked_upload, 413, "limit"),
    (
        "bad-query-value",
        "/predict",
        fixed(params={"normalize": "maybe"}, **image_file(NOISE)),
        422,
        "normalize",
    ),
]


@pytest.mark.parametrize(
    ("path", "request_for", "status", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_error_status_and_detail(
    client: TestClient,
    settings: Settings,
    path: str,
    request_for: RequestFor,
    status: int,
    words: str,
) -> None:
    response = client.post(path, **request_for(settings))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert words in detail


def test_error_too_many_files_is_413(small_batch_client: TestClient) -> None:
    files = [("files", (f"{i}.png", NOISE, "image/png")) for i in range(SMALL_BATCH_FILES + 1)]
    response = small_batch_client.post("/predict/batch", files=files)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_error_overloaded_is_503_with_retry_after(small_upload_app: FastAPI) -> None:
    async def full_queue(rows: object) -> None:
        raise Overloaded(queued=10, limit=10, retry_after=2)

    engine = SimpleNamespace(predict=full_queue)
    # where the lifespan would put it
    small_upload_app.state.serving = serving_with_engine(small_upload_app, engine)
    response = TestClient(small_upload_app).post("/predict", **image_file(png(DIGIT)))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert "queue is full" in response.json()["detail"]


def run_asgi(
    app: FastAPI, headers: list[tuple[bytes, bytes]], body: Iterator[bytes]
) -> tuple[int, int]:
    """Send one POST /predict straight to the ASGI app; return (status, body bytes it read)."""
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(body, b"")
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status, read


def endless_upload() -> Iterator[bytes]:
    yield from multipart_stream(SMALL_UPLOAD_BYTES)
    while True:  # a client that never stops sending
        yield b"\0" * 4096


MULTIPART = (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())


def test_body_limit_by_content_length_reads_nothing(small_upload_app: FastAPI) -> None:
    declared = (b"content-length", str(SMALL_UPLOAD_BYTES + 1).encode())
    status, read = run_asgi(small_upload_app, [MULTIPART, declared], endless_upload())
    assert (status, read) == (413, 0)


@pytest.mark.parametrize("digits", [19, 5000])
def test_body_limit_content_length_of_many_digits_is_413(
    small_upload_app: FastAPI, digits: int
) -> None:
    """Issue 15, finding 5: int() refuses over 4,300 digits, and the guard answered 500."""
    declared = (b"content-length", b"9" * digits)
    status, read = run_asgi(small_upload_app, [MULTIPART, declared], endless_upload())
    assert (status, read) == (413, 0)


def test_body_limit_while_streaming_stops_reading_past_the_limit(
    small_upload_app: FastAPI,
) -> None:
    chunked = (b"transfer-encoding", b"chunked")
    # The route is reached (the body has no declared length): give it what the lifespan would.
    serving = serving_with_engine(small_upload_app, SimpleNamespace())
    small_upload_app.state.serving = serving
    status, read = run_asgi(small_upload_app, [MULTIPART, chunked], endless_upload())
    assert status == 413
    assert SMALL_UPLOAD_BYTES < read <= SMALL_UPLOAD_BYTES + 65536


@pytest.mark.parametrize(
    ("root_path", "path", "key"),
    [
        ("", "/v2/no-such-route", "error"),
        ("", "/no-such-route", "detail"),
        ("/mnist", "/mnist/v2/no-such-route", "error"),
        ("/mnist", "/mnist/no-such-route", "detail"),
        ("/v2", "/v2/no-such-route", "detail"),  # the proxy's prefix is not the protocol's
    ],
)
def test_error_shape_follows_the_route_path(
    small_upload_app: FastAPI, root_path: str, path: str, key: str
) -> None:
    client = TestClient(small_upload_app, root_path=root_path)
    response = client.get(path)
    assert response.status_code == 404
    assert list(response.json()) == [key]
