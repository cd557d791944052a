"""Hand-written hostile HTTP requests sent byte for byte over a raw socket: broken multipart,
lying Content-Length, framing errors and clients that hang up mid-request.
"""

import socket
from dataclasses import dataclass

from tests.support import BOUNDARY, multipart, part

FRAMING_ANSWER = b"Invalid HTTP request received."  # uvicorn's own, before the app sees anything


JSON, FRAMING, NONE = "json", "framing", "none"  # the app answers; uvicorn's 400; hung up


@dataclass(frozen=True)
class RawCase:
    name: str
    request: bytes
    answers: tuple[str, ...] = (JSON,)  # what may come back first
    hang_up: bool = False  # close the socket right after sending


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def http(
    body: bytes,
    *,
    path: bytes = b"/predict",
    method: bytes = b"POST",
    content_type: bytes = b"multipart/form-data; boundary=" + BOUNDARY,
    length: bytes | None = None,
    extra: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """A request with `Content-Length: length` (the body's real length unless given)."""
    length = str(len(body)).encode() if length is None else length
    head = method + b" " + path + b" " + version + b"\r\nHost: 127.0.0.1\r\n"
    head += b"Content-Type: " + content_type + b"\r\n" if content_type else b""
    head += b"Content-Length: " + length + b"\r\n" if length != b"-" else b""
    return head + extra + b"\r\n" + body


def v2(body: bytes, extra: bytes = b"") -> bytes:
    """An Open Inference Protocol inference request: its errors are {"error": ...}."""
    path = b"/v2/models/mnist/infer"
    return http(body, path=path, content_type=b"application/json", extra=extra)


# A body longer than its Content-Length leaves bytes that read as a broken next request; uvicorn
# may refuse those (and close) before the app has answered the first one.
LEFTOVER = (JSON, FRAMING)


def raw_cases(image: bytes) -> list[RawCase]:
    good = part(b"file", image)
    body = multipart(good)
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    many_fields = multipart(*[part(b"f%d" % i, b"x", None) for i in range(1500)])
    many_files = multipart(*[part(b"files", image) for i in range(1100)])
    return [
        RawCase("wrong-field-name", http(multipart(part(b"image", image)))),
        RawCase("no-field-name", http(multipart(part(None, image)))),
        RawCase("duplicate-file-fields", http(multipart(good, good))),
        RawCase("duplicate-garbage-then-good", http(multipart(part(b"file", b"junk"), good))),
        RawCase("duplicate-good-then-garbage", http(multipart(good, part(b"file", b"junk")))),
        RawCase("file-as-plain-field", http(multipart(part(b"file", image, None)))),
        RawCase("no-boundary", http(body, content_type=b"multipart/form-data")),
        RawCase("empty-boundary", http(body, content_type=b'multipart/form-data; boundary=""')),
        RawCase("boundary-mismatch", http(multipart(good, boundary=b"other"))),
        RawCase("no-closing-boundary", http(multipart(good, closing=False))),
        RawCase("only-closing-boundary", http(b"--" + BOUNDARY + b"--\r\n")),
        RawCase("empty-body", http(b"")),
        RawCase("boundary-2000-chars", http(multipart(good, boundary=b"b" * 2000))),
        RawCase("json-body-as-multipart", http(b'{"file": "a.png"}')),
        RawCase("multipart-as-json", http(body, content_type=b"application/json")),
        RawCase("no-content-type", http(body, content_type=b"")),
        RawCase(
            "mixed-case-content-type",
            http(body, content_type=b"MULTIPART/Form-Data; BOUNDARY=" + BOUNDARY),
        ),
        RawCase("filename-16k", http(multipart(part(b"file", image, b"x" * 16_384)))),
        RawCase("filename-nul-crlf", http(multipart(part(b"file", image, b"a\x00b\r\nX-Evil: 1")))),
        RawCase("headers-not-utf8", http(multipart(part(b"\xff\xfe\xfd", image, b"\xc3\x28.png")))),
        RawCase(
            "base64-transfer-encoding",
            http(multipart(b"Content-Transfer-Encoding: base64\r\n" + good)),
        ),
        RawCase("fields-1500", http(many_fields)),
        RawCase("files-1100-to-batch", http(many_files, path=b"/predict/batch")),
        RawCase("content-length-half", http(body, length=str(len(body) // 2).encode()), LEFTOVER),
        RawCase("content-length-minus-1", http(body, length=str(len(body) - 1).encode())),
        RawCase("content-length-0", http(body, length=b"0"), LEFTOVER),
        RawCase("content-length-plus-100", http(body, length=str(len(body) + 100).encode())),
        RawCase("chunked", http(chunked, length=b"-", extra=b"Transfer-Encoding: chunked\r\n")),
        RawCase(
            "chunked-and-length", http(chunked, extra=b"Transfer-Encoding: chunked\r\n"), "framing"
        ),
        RawCase("length-not-a-number", http(body, length=b"abc"), (FRAMING,)),
        RawCase("length-negative", http(body, length=b"-5"), (FRAMING,)),
        RawCase("two-lengths", http(body, extra=b"Content-Length: 3\r\n"), (FRAMING,)),
        RawCase(
            "bad-chunk-size",
            http(b"zz\r\n" + body, length=b"-", extra=b"Transfer-Encoding: chunked\r\n"),
            "framing",
        ),
        RawCase("expect-100-continue", http(body, extra=b"Expect: 100-continue\r\n")),
        RawCase("http-1.0", http(body, version=b"HTTP/1.0")),
        RawCase("header-64k", http(body, extra=b"X-Padding: " + b"p" * 65_536 + b"\r\n")),
        RawCase("put-predict", http(body, method=b"PUT")),
        RawCase("get-predict-with-body", http(body, method=b"GET")),
        RawCase(
            "static-traversal-encoded", http(b"", method=b"GET", path=b"/static/..%2f..%2fmain.py")
        ),
        RawCase(
            "static-traversal-dots", http(b"", method=b"GET", path=b"/static/../../app/main.py")
        ),
        # Issue 15: unbounded parsing (findings 1, 4 and 5); each was seconds on the event
        # loop or a 500. Bodies stay under the 5 MiB upload limit.
        RawCase(
            "disposition-5m-semicolons",
            http(multipart(part(b'"file"' + b";" * 5_000_000, image))),
        ),
        RawCase("part-headers-100k-lines", http(multipart(b"X: y\r\n" * 100_000 + good))),
        RawCase(
            "content-type-30k-semicolons",
            http(body, content_type=b"multipart/form-data; boundary=" + BOUNDARY + b";" * 30_000),
        ),
        RawCase("content-length-5000-digits", http(body, length=b"9" * 5000), (JSON, FRAMING)),
        RawCase("v2-json-1000-deep", v2(b'{"inputs": ' + b"[" * 1000 + b"]" * 1000 + b"}")),
        RawCase("v2-json-unclosed-1m-deep", v2(b'{"inputs": ' + b"[" * 1_000_000)),
        RawCase("v2-json-int-5000-digits", v2(b'{"inputs": [1' + b"0" * 5000 + b"]}")),
        RawCase(
            "v2-header-length-5000-digits",
            v2(b"{}", extra=b"Inference-Header-Content-Length: " + b"9" * 5000 + b"\r\n"),
        ),
        RawCase(
            "cut-mid-upload", http(body)[: len(http(body)) - len(body) // 2], (NONE,), hang_up=True
        ),
        RawCase("cut-after-headers", http(body)[: -len(body)], (NONE,), hang_up=True),
        RawCase("cut-mid-headers", http(body)[:40], (NONE,), hang_up=True),
    ]


def exchange(host: str, port: int, case: RawCase, timeout: float) -> RawAnswer | None:
    """Send the case; return the first final answer, or None when the case hangs up first."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(case.request)
        if case.hang_up:
            return None
        received = b""
        while True:
            head, _, rest = received.partition(b"\r\n\r\n")
            if _ and not head.startswith(b"HTTP/1.1 1"):
                break
            if _:  # an interim 100 Continue: drop it
                received = rest
                continue
            chunk = sock.recv(65_536)
            if not chunk:
                raise ConnectionError(f"closed before an answer: {received[:200]!r}")
            received += chunk
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65_536)
            if not chunk:
                break
            rest += chunk
        return RawAnswer(int(status_line.split()[1]), headers, rest[:length])
