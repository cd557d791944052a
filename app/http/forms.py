"""Pure request parsing for the hot path: a multipart body and boolean query flags.

POST /predict parses its form with these instead of FastAPI's `UploadFile` machinery (a
byte-by-byte state machine, a SpooledTemporaryFile per part, pydantic per parameter): the body
is already in memory and bounded by ServiceMiddleware, so here it is split with `bytes.find`
(RFC 7578) and parts stay bytes.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from python_multipart.multipart import parse_options_header

MAX_PARTS = 1000  # as Starlette's default max_files + max_fields
# Bounds on everything a client can make long, so that parsing stays linear and cheap: Starlette
# (python-multipart) caps a part's header line at ~4 KB and a part at 8 headers.
MAX_HEADER_LINE = 4096  # bytes of one part header line
MAX_PART_HEADERS = 8  # header lines in one part
MAX_PARAMETERS = 16  # `;`-separated parameters of a Content-Disposition or Content-Type
MAX_CONTENT_TYPE = 1024  # characters of the request's Content-Type header
MAX_BOUNDARY_PADDING = 1024  # whitespace allowed after a boundary delimiter (RFC 2046)
TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})  # what pydantic accepts as a bool
FALSE = frozenset({"0", "false", "f", "no", "n", "off"})
# The Content-Disposition browsers, curl and HTTP libraries send; anything else (escapes,
# RFC 2231 `filename*`, other order) goes through python-multipart's full header parser.
SIMPLE_DISPOSITION = re.compile(rb'form-data; name="([^"\\]*)"(?:; filename="([^"\\]*)")?')
# ... and the Content-Type they send: an unquoted RFC 2046 boundary. Others: python-multipart.
SIMPLE_CONTENT_TYPE = re.compile(r"multipart/form-data; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})")


HEADERS_MAX_BYTES = MAX_PART_HEADERS * (MAX_HEADER_LINE + 2) + 4  # + the CRLFs around them


class FormError(ValueError):
    """The request is not the form the route documents; the message names what is wrong."""


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def multipart_boundary(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type; FormError for anything else."""
    simple = SIMPLE_CONTENT_TYPE.fullmatch(content_type)
    if simple is not None:
        return simple.group(1).encode()
    if len(content_type) > MAX_CONTENT_TYPE or content_type.count(";") > MAX_PARAMETERS:
        raise FormError(
            f"request Content-Type: {len(content_type)} characters with "
            f"{content_type.count(';')} parameters; the limits are {MAX_CONTENT_TYPE} and "
            f"{MAX_PARAMETERS}"
        )
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 200:
        shown = content_type.split(";", 1)[0].strip()[:60] or "none"
        raise FormError(
            f"request body: expected multipart/form-data with a boundary, got Content-Type {shown}"
        )
    return boundary


def parse_multipart(body: bytes, boundary: bytes, max_parts: int = MAX_PARTS) -> list[FormPart]:
    """Every part of a complete multipart body, in order; FormError if it is malformed."""
    delimiter = b"\r\n--" + boundary
    position = body.find(delimiter[2:])  # the first delimiter has no CRLF before it (preamble)
    if position < 0:
        raise FormError("request body: no multipart boundary found")
    position += len(delimiter) - 2
    parts: list[FormPart] = []
    while not body.startswith(b"--", position):  # "--" after a delimiter closes the body
        line_end = body.find(b"\r\n", position, position + MAX_BOUNDARY_PADDING + 2)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise FormError("request body: malformed multipart boundary line")
        if len(parts) >= max_parts:
            raise FormError(f"request body: more than {max_parts} multipart parts")
        # Searched only as far as the most header text a part may have: a part whose headers
        # run on is refused after at most ~33 KB, whatever the body's size.
        headers_end = body.find(b"\r\n\r\n", line_end, line_end + HEADERS_MAX_BYTES)
        if headers_end < 0:
            raise FormError(
                f"request body: a multipart part's headers never end, or are over the limits "
                f"({MAX_PART_HEADERS} lines of at most {MAX_HEADER_LINE} bytes)"
            )
        data_end = body.find(delimiter, headers_end + 4)
        if data_end < 0:
            raise FormError("request body: the multipart data ends before its closing boundary")
        parts.append(_part(body[line_end + 2 : headers_end], body[headers_end + 4 : data_end]))
        position = data_end + len(delimiter)
    return parts


def _part(head: bytes, data: bytes) -> FormPart:
    headers: dict[bytes, bytes] = {}
    lines = head.split(b"\r\n", MAX_PART_HEADERS) if head else []
    if len(lines) > MAX_PART_HEADERS:
        raise FormError(f"request body: a multipart part has over {MAX_PART_HEADERS} header lines")
    for line in lines:
        if len(line) > MAX_HEADER_LINE:
            raise FormError(
                f"request body: a multipart header line of {len(line)} bytes; the limit is "
                f"{MAX_HEADER_LINE}"
            )
        name, colon, value = line.partition(b":")
        if not colon:
            raise FormError(f"request body: malformed multipart header {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get(b"content-disposition", b"")
    simple = SIMPLE_DISPOSITION.fullmatch(disposition)
    if simple is not None:
        name, filename = simple.group(1), simple.group(2)
    else:
        if disposition.count(b";") > MAX_PARAMETERS:
            raise FormError(
                f"request body: a multipart Content-Disposition with over {MAX_PARAMETERS} "
                "parameters"
            )
        _, options = parse_options_header(disposition)
        name, filename = options.get(b"name", b""), options.get(b"filename")
    kind = headers.get(b"content-type")
    return FormPart(
        name=name.decode("utf-8", "replace"),
        filename=filename.decode("utf-8", "replace") if filename is not None else None,
        content_type=kind.decode("latin-1") if kind is not None else None,
        data=data,
    )


def query_flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean query parameter, spelled as pydantic accepts them; FormError otherwise."""
    value = params.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise FormError(f"query parameter `{name}`: expected true or false, got {value[:40]!r}")
