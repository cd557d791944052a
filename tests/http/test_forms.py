"""app.http.forms: the multipart boundary, the hand-split multipart body and boolean query flags."""

import string
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.http.forms import (
    MAX_HEADER_LINE,
    MAX_PART_HEADERS,
    FormError,
    FormPart,
    multipart_boundary,
    parse_multipart,
    query_flag,
)

BOUNDARY = b"b0undary"
DISPOSITION = b'Content-Disposition: form-data; name="image"; filename="digit.png"'
# Looks like a boundary line to a careless parser, but is not "\r\n--" + BOUNDARY.
TRICKY_DATA = b"\x89PNG\r\n\x1a\n\x00\xff\r\n--\r\n--b0undar\r\n\r\n-- end\r\n"


def httpx_form(files: Any, data: dict[str, str] | None = None) -> tuple[bytes, str]:
    """The body and Content-Type httpx sends for a form."""
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def part(head: bytes, data: bytes) -> bytes:
    """One handcrafted part: boundary line, header lines, blank line, data (no trailing CRLF)."""
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n"


def body_of(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("multipart/form-data; boundary=abc123", b"abc123"),
        ('multipart/form-data; boundary="abc 123"', b"abc 123"),
        (
            'multipart/form-data; boundary="--WebKitFormBoundary7MA4"',
            b"--WebKitFormBoundary7MA4",
        ),
        ("Multipart/Form-Data; charset=utf-8; boundary=xyz", b"xyz"),
    ],
)
def test_multipart_boundary_from_content_type(content_type: str, expected: bytes) -> None:
    assert multipart_boundary(content_type) == expected


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("application/json", "Content-Type application/json"),
        ("application/json; charset=utf-8", "Content-Type application/json"),
        ("multipart/form-data", "Content-Type multipart/form-data"),
        ("multipart/form-data; boundary=", "Content-Type multipart/form-data"),
        ("", "Content-Type none"),
    ],
)
def test_multipart_boundary_rejects_content_type(content_type: str, named: str) -> None:
    with pytest.raises(FormError, match="expected multipart/form-data") as caught:
        multipart_boundary(content_type)
    assert named in str(caught.value)


def test_multipart_boundary_rejects_oversized_boundary() -> None:
    with pytest.raises(FormError, match="with a boundary"):
        multipart_boundary("multipart/form-data; boundary=" + "a" * 201)


def test_parse_multipart_httpx_form_with_fields_and_files() -> None:
    body, content_type = httpx_form(
        files=[
            ("image", ("digit.png", TRICKY_DATA, "image/png")),
            ("image", ("empty.bin", b"", "application/octet-stream")),
            ("notes", ("notes.txt", b"line one\r\nline two\r\n", "text/plain")),
        ],
        data={"label": "seven", "comment": "a -- b\r\nc"},
    )
    parts = parse_multipart(body, multipart_boundary(content_type))
    assert parts == [
        FormPart(name="label", filename=None, content_type=None, data=b"seven"),
        FormPart(name="comment", filename=None, content_type=None, data=b"a -- b\r\nc"),
        FormPart(name="image", filename="digit.png", content_type="image/png", data=TRICKY_DATA),
        FormPart(
            name="image",
            filename="empty.bin",
            content_type="application/octet-stream",
            data=b"",
        ),
        FormPart(
            name="notes",
            filename="notes.txt",
            content_type="text/plain",
            data=b"line one\r\nline two\r\n",
        ),
    ]


def test_parse_multipart_all_byte_values_survive() -> None:
    data = bytes(range(256)) * 4
    body, content_type = httpx_form(files={"image": ("all.bin", data, "application/octet-stream")})
    (parsed,) = parse_multipart(body, multipart_boundary(content_type))
    assert parsed.data == data


@pytest.mark.parametrize(
    ("disposition", "name", "filename"),
    [
        (b'form-data; name="image"; filename="a\\"b.png"', "image", 'a"b.png'),
        (b'form-data; name="image"; filename="a\\\\b.png"', "image", "a\\b.png"),
        (
            b'form-data; name="image"; filename="plain.png"; filename*=UTF-8\'\'%E2%9C%93.png',
            "image",
            "plain.png",  # RFC 7578 forbids filename*: the plain filename is authoritative
        ),
        (b'form-data; filename="first.png"; name="image"', "image", "first.png"),
        (b"form-data; name=image; filename=bare.png", "image", "bare.png"),
        (b'form-data;name="image";filename="tight.png"', "image", "tight.png"),
        ('form-data; name="image"; filename="ünï ✓.png"'.encode(), "image", "ünï ✓.png"),
        (b'form-data; name="q\\"uoted"', 'q"uoted', None),
    ],
)
def test_parse_multipart_unusual_disposition(
    disposition: bytes, name: str, filename: str | None
) -> None:
    body = body_of(part(b"Content-Disposition: " + disposition, b"payload"))
    (parsed,) = parse_multipart(body, BOUNDARY)
    assert (parsed.name, parsed.filename, parsed.data) == (name, filename, b"payload")


def test_parse_multipart_header_names_are_case_insensitive() -> None:
    head = b'content-disposition: form-data; name="image"\r\nCONTENT-TYPE:  image/png '
    (parsed,) = parse_multipart(body_of(part(head, b"x")), BOUNDARY)
    assert (parsed.name, parsed.content_type) == ("image", "image/png")


def test_parse_multipart_part_without_headers() -> None:
    body = b"--" + BOUNDARY + b"\r\n\r\nraw data\r\n" + b"--" + BOUNDARY + b"--\r\n"
    assert parse_multipart(body, BOUNDARY) == [
        FormPart(name="", filename=None, content_type=None, data=b"raw data")
    ]


def test_parse_multipart_ignores_preamble_and_epilogue() -> None:
    body = (
        b"This is the preamble.\r\nIt is to be ignored.\r\n"
        + body_of(part(DISPOSITION, b"digit"))
        + b"This is the epilogue, also ignored.\r\n"
    )
    (parsed,) = parse_multipart(body, BOUNDARY)
    assert (parsed.name, parsed.filename, parsed.data) == ("image", "digit.png", b"digit")


# Issue 15, finding 1: a 5 MB part header (or request Content-Type) of semicolons took python-
# multipart's parameter splitter 8-11 s, on the event loop. Every one is refused in microseconds.
FILE_DISPOSITION = b'Content-Disposition: form-data; name="file"'
HOSTILE_BODIES = {
    "disposition-5m-semicolons": body_of(part(FILE_DISPOSITION + b";" * 5_000_000, b"x")),
    "header-line-over-limit": body_of(part(b"X-Long: " + b"a" * MAX_HEADER_LINE, b"x")),
    "headers-over-count": body_of(part(b"\r\n".join([FILE_DISPOSITION] + [b"X: y"] * 8), b"x")),
    "1m-header-lines": body_of(part(b"\r\n".join([b"X: y"] * 1_000_000), b"x")),
    "disposition-17-parameters": body_of(part(FILE_DISPOSITION + b"; a=b" * 16, b"x")),
    "headers-never-end-5mb": b"--" + BOUNDARY + b"\r\n" + b"X: " + b"y" * 5_000_000,
    "boundary-padding-5mb": body_of(part(FILE_DISPOSITION, b"x")).replace(
        BOUNDARY + b"\r\n", BOUNDARY + b" " * 5_000_000 + b"\r\n", 1
    ),
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_parse_multipart_unbounded_headers_refused_fast(body: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(FormError, match=r"header|parameters|boundary line"):
        parse_multipart(body, BOUNDARY)
    assert time.perf_counter() - started < 0.05


def test_parse_multipart_accepts_headers_at_the_limits() -> None:
    longest = b"X-Long: " + b"a" * (MAX_HEADER_LINE - 8)
    head = b"\r\n".join([FILE_DISPOSITION] + [longest] * (MAX_PART_HEADERS - 1))
    (parsed,) = parse_multipart(body_of(part(head, b"x")), BOUNDARY)
    assert (parsed.name, parsed.data) == ("file", b"x")


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=x" + ";" * 5_000_000,
        "multipart/form-data; boundary=x; charset=" + "u" * 5_000,
        "multipart/form-data" + "; a=b" * 17 + "; boundary=x",
    ],
    ids=["5m-semicolons", "5k-charset", "17-parameters"],
)
def test_multipart_boundary_unbounded_content_type_refused_fast(content_type: str) -> None:
    started = time.perf_counter()
    with pytest.raises(FormError, match="the limits are 1024 and 16"):
        multipart_boundary(content_type)
    assert time.perf_counter() - started < 0.05


def test_parse_multipart_allows_whitespace_after_boundary() -> None:
    body = b"--" + BOUNDARY + b" \t\r\n" + DISPOSITION + b"\r\n\r\ndigit\r\n--" + BOUNDARY + b"--"
    (parsed,) = parse_multipart(body, BOUNDARY)
    assert parsed.data == b"digit"


def test_parse_multipart_accepts_exactly_max_parts() -> None:
    body = body_of(*(part(DISPOSITION, b"%d" % i) for i in range(3)))
    assert [p.data for p in parse_multipart(body, BOUNDARY, max_parts=3)] == [b"0", b"1", b"2"]


def test_parse_multipart_empty_form() -> None:
    assert parse_multipart(b"--" + BOUNDARY + b"--\r\n", BOUNDARY) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no multipart boundary found"),
        (b"just some bytes\r\n\r\nwith no boundary", "no multipart boundary found"),
        (part(DISPOSITION, b"digit").replace(BOUNDARY, b"other"), "no multipart boundary found"),
        (part(DISPOSITION, b"digit"), "ends before its closing boundary"),
        (part(DISPOSITION, b"digit")[:-3], "ends before its closing boundary"),
        (b"--" + BOUNDARY + b"\r\n" + DISPOSITION, "headers never end"),
        (b"--" + BOUNDARY, "malformed multipart boundary line"),
        (body_of(part(DISPOSITION, b"digit"))[:-4], "malformed multipart boundary line"),
        (
            b"--" + BOUNDARY + b"garbage\r\n" + DISPOSITION + b"\r\n\r\nx\r\n--" + BOUNDARY + b"--",
            "malformed multipart boundary line",
        ),
        (body_of(part(b"Content-Disposition form-data", b"x")), "malformed multipart header"),
        (body_of(part(DISPOSITION + b"\r\nX-No-Colon", b"x")), "malformed multipart header"),
        (body_of(*(part(DISPOSITION, b"x") for _ in range(4))), "more than 3 multipart parts"),
    ],
    ids=[
        "empty",
        "no-boundary",
        "other-boundary",
        "no-closing-boundary",
        "truncated-data",
        "truncated-headers",
        "only-a-boundary",
        "truncated-closing-boundary",
        "garbage-after-boundary",
        "header-without-colon",
        "second-header-without-colon",
        "too-many-parts",
    ],
)
def test_parse_multipart_malformed_body_raises(body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_multipart(body, BOUNDARY, max_parts=3)


@pytest.mark.parametrize("word", ["1", "true", "True", "TRUE", "t", "yes", "y", "on", " on "])
def test_query_flag_true_spellings(word: str) -> None:
    assert query_flag({"normalize": word}, "normalize", default=False) is True


@pytest.mark.parametrize("word", ["0", "false", "False", "FALSE", "f", "no", "n", "off", " off "])
def test_query_flag_false_spellings(word: str) -> None:
    assert query_flag({"normalize": word}, "normalize", default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_query_flag_absent_is_default(default: bool) -> None:
    assert query_flag({"other": "true"}, "normalize", default=default) is default


@pytest.mark.parametrize("value", ["maybe", "", "2", "truthy"])
def test_query_flag_rejects_other_values(value: str) -> None:
    with pytest.raises(FormError) as caught:
        query_flag({"include_image": value}, "include_image", default=False)
    assert "`include_image`" in str(caught.value)
    assert repr(value) in str(caught.value)


SAFE_FILENAME = st.text(alphabet=string.ascii_letters + string.digits + "._- ", min_size=1)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(files=st.lists(st.tuples(SAFE_FILENAME, st.binary(max_size=2048)), min_size=1, max_size=4))
def test_parse_multipart_round_trips_httpx_files(files: list[tuple[str, bytes]]) -> None:
    body, content_type = httpx_form(
        files=[("file", (filename, data, "application/octet-stream")) for filename, data in files]
    )
    parts = parse_multipart(body, multipart_boundary(content_type))
    assert [(p.name, p.filename, p.content_type, p.data) for p in parts] == [
        ("file", filename, "application/octet-stream", data) for filename, data in files
    ]
