"""What tests and the benchmark share: paths of the shipped models, free ports, readiness
polling of a server, and builders for image files and multipart bodies as clients send them.

The modules beside this one: `servers` (a real `python -m app`), `versions` (model versions on
disk), `fakes` (stand-ins for what the lifespan builds), `loadgen` and `procfs` (load and what a
process holds), `fuzz_corpus` and `fuzz_requests` (hostile uploads and requests), `drawings`,
`realistic` and `strokes` (images and pen strokes)."""

import io
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = ROOT / "models"
SHIPPED_MODEL = REPOSITORY / "mnist" / "3" / "model.keras"  # the newest: served by default
SMALL_BATCH_FILES = 3  # max_batch_files of the small-batch app of conftest
SMALL_UPLOAD_BYTES = 64 * 1024  # max_upload_bytes of the small-upload app of conftest
READY_TIMEOUT_S = 180.0
BOUNDARY = b"fuzzboundary"
# The keys of a /predict answer, as the API documents them
PREDICTION_KEYS = {
    "digit",
    "confidence",
    "probabilities",
    "not_a_digit",
    "normalized",
    "model",
    "image",
}

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], T], timeout_s: float, interval_s: float = 0.05) -> T | None:
    """Call `check` every `interval_s` until it returns a true value, and return that value;
    None once `timeout_s` have passed. The tests' one poll loop: where a test waits for
    something outside it (a process, a server), it waits here."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval_s)
    return result


def eventually(
    check: Callable[[], T],
    timeout_s: float,
    failure: str | Callable[[], str] = "condition not met in time",
    interval_s: float = 0.05,
) -> T:
    """`poll`, failing with `failure` (a text, or a function giving it) when the time is up."""
    result = poll(check, timeout_s, interval_s)
    if result is None:
        raise AssertionError(failure() if callable(failure) else failure)
    return result


def wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    timeout_s: float = READY_TIMEOUT_S,
    path: str = "/readyz",
) -> None:
    """Poll GET `path` until 200; fail with the server's log if it exits or takes too long."""
    with httpx.Client(base_url=url, timeout=2, trust_env=False) as http:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
            try:
                return http.get(path).status_code == 200
            except httpx.TransportError:
                return False

        eventually(
            ready,
            timeout_s,
            lambda: f"server not ready after {timeout_s}s:\n{log.read_text()}",
            interval_s=0.2,
        )


def encode(image: Image.Image, format: str = "PNG", **params: object) -> bytes:
    """Encode a PIL image as `format` bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 gray (H, W) or RGB(A) (H, W, C) array."""
    return encode(Image.fromarray(pixels))


def part(
    name: bytes | None,
    content: bytes,
    filename: bytes | None = b"a.png",
    content_type: bytes = b"application/octet-stream",
) -> bytes:
    """One multipart/form-data part (headers, blank line, content, CRLF), without its boundary."""
    disposition = b"Content-Disposition: form-data"
    disposition += b"; name=" + name if name is not None else b""
    disposition += b'; filename="' + filename + b'"' if filename is not None else b""
    return disposition + b"\r\nContent-Type: " + content_type + b"\r\n\r\n" + content + b"\r\n"


def multipart(*parts: bytes, boundary: bytes = BOUNDARY, closing: bool = True) -> bytes:
    """A multipart/form-data body of `parts`, closed by the final boundary unless `closing` is
    False; its Content-Type is `multipart/form-data; boundary=<boundary>`."""
    body = b"".join(b"--" + boundary + b"\r\n" + p for p in parts)
    return body + (b"--" + boundary + b"--\r\n" if closing else b"")
