"""app.http.server_protocol on a real `python -m app`: request heads are bounded (issue 15,
finding 6), and everything within the bounds goes through as before (uploads, pipelining,
keep-alive)."""

import contextlib
import json
import socket
import time
from collections.abc import Iterator

import pytest

from app import __main__ as entry
from app.http.server_protocol import MAX_CHUNKS, MAX_HEAD_BYTES, MAX_HEADERS, MAX_URL_BYTES
from tests.support import multipart, part, servers
from tests.support.fuzz_requests import http
from tests.support.loadgen import DIGIT_28, PHOTO

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.running(tmp_path_factory.mktemp("protocol")) as server:
        yield server.url


def exchange(url: str, request: bytes, answers: int = 1) -> list[tuple[int, bytes]]:
    """Send `request` in one go; read `answers` answers (status, body), or until it hangs up."""
    host, port = url.removeprefix("http://").split(":")
    received, found = b"", []
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)  # refused before it was all sent: the answer is waiting
        while len(found) < answers:
            head, sep, rest = received.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line[15:])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ),
                None,
            )
            if sep and length is not None and len(rest) >= length:
                found.append((int(head[9:12]), rest[:length]))
                received = rest[length:]
                continue
            try:
                chunk = sock.recv(65_536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return found


def get(path: bytes = b"/healthz", extra: bytes = b"") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def padding(size: int) -> bytes:
    """Header lines of exactly `size` bytes in all."""
    line = b"X-Pad: " + b"p" * 4000 + b"\r\n"
    full, rest = divmod(size, len(line))
    return line * full + (b"X-P: " + b"p" * (rest - 7) + b"\r\n" if rest else b"")


def test_head_at_the_limit_is_served(url: str) -> None:
    request = get(extra=padding(MAX_HEAD_BYTES - len(get()) - 2000))
    assert len(request) < MAX_HEAD_BYTES
    assert exchange(url, request)[0][0] == 200


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (get(extra=padding(MAX_HEAD_BYTES + 10)), 431, f"over {MAX_HEAD_BYTES} bytes"),
        (
            get(extra=b"X-One: " + b"v" * 10 * MAX_HEAD_BYTES + b"\r\n"),
            431,
            f"over {MAX_HEAD_BYTES} bytes",
        ),
        (get(extra=b"X: y\r\n" * MAX_HEADERS), 431, f"over {MAX_HEADERS} header fields"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"y" * (MAX_HEAD_BYTES + 1), 431, "bytes"),
        (get(path=b"/healthz?" + b"a=1&" * 32_000), 414, f"over {MAX_URL_BYTES} bytes"),
        (b"GET /" + b"p" * 10 * MAX_HEAD_BYTES, 414, f"over {MAX_URL_BYTES} bytes"),
    ],
    ids=["headers", "one-header", "fields", "never-ending", "query-32k-params", "endless-path"],
)
def test_head_over_the_limits_is_refused_json(
    url: str, request_bytes: bytes, status: int, reason: str
) -> None:
    started = time.perf_counter()
    [(answered, body)] = exchange(url, request_bytes)
    assert (answered, time.perf_counter() - started < 1.0) == (status, True)
    assert reason in json.loads(body)["detail"]


def test_target_at_the_limit_is_served(url: str) -> None:
    path = b"/healthz?q=" + b"q" * (MAX_URL_BYTES - len(b"/healthz?q="))
    assert exchange(url, get(path=path))[0][0] == 200


def test_fields_at_the_limit_are_served(url: str) -> None:
    assert exchange(url, get(extra=b"X: y\r\n" * (MAX_HEADERS - 1)))[0][0] == 200  # + Host


def test_upload_larger_than_the_head_limit_in_one_send_is_served(url: str) -> None:
    """The body arrives in the same reads as the head: only the head counts."""
    body = multipart(part(b"file", PHOTO), part(b"pad", b"x" * 4 * MAX_HEAD_BYTES, None))
    [(status, answer)] = exchange(url, http(body))
    assert status == 200, answer


def test_pipelined_requests_each_get_their_answer(url: str) -> None:
    upload = http(multipart(part(b"file", DIGIT_28)))
    answers = exchange(url, get() + upload + get(b"/readyz") + upload, answers=4)
    assert [status for status, _ in answers] == [200, 200, 200, 200]
    assert json.loads(answers[1][1])["digit"] == json.loads(answers[3][1])["digit"] == 7


def test_keep_alive_connection_counts_each_head_afresh(url: str) -> None:
    request = get(extra=padding(MAX_HEAD_BYTES // 2))
    assert [status for status, _ in exchange(url, request * 6, answers=6)] == [200] * 6


def test_python_m_app_runs_the_bounded_protocol() -> None:
    assert entry.http_options() == {"http": entry.BOUNDED_HTTPTOOLS}
    assert entry.H11_MAX_HEAD_BYTES == MAX_HEAD_BYTES


def chunked(body: bytes, size: int) -> bytes:
    """A multipart upload to /predict with its body sent in `size`-byte chunks."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    head = http(b"", length=b"-", extra=b"Transfer-Encoding: chunked\r\n")
    return head + encoded


def test_chunked_upload_is_served(url: str) -> None:
    body = multipart(part(b"file", PHOTO), part(b"pad", b"x" * 200_000, None))
    [(status, answer)] = exchange(url, chunked(body, 1024))  # ~200 chunks
    assert status == 200, answer


def test_chunked_body_of_tiny_chunks_is_413(url: str) -> None:
    """Each chunk costs a Python call on the event loop: one-byte chunks were ~50 ms per read."""
    body = multipart(part(b"file", DIGIT_28 + b"\0" * 2 * MAX_CHUNKS))
    started = time.perf_counter()
    [(status, answer)] = exchange(url, chunked(body, 1))
    assert (status, time.perf_counter() - started < 1.0) == (413, True)
    assert f"over {MAX_CHUNKS} chunks" in json.loads(answer)["detail"]
