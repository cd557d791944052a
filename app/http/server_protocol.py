"""uvicorn's httptools protocol with a bound on each request's head: 431 (or 414) past it.

httptools (llhttp) has no limit on a request line or its headers, and joins the pieces of a
long header value as they arrive, on the event loop, before any route or key check runs
(figures in docs/reliability.md). uvicorn bounds heads only for h11
(`h11_max_incomplete_event_size`), which costs more CPU per request. This
subclass, passed to uvicorn by its import string (as `--http` takes one), feeds the parser no
more head bytes than MAX_HEAD_BYTES + 1 and refuses a head of more than MAX_HEADERS fields or a
target of more than MAX_URL_BYTES, so what a head costs is bounded whatever the client sends.
The limits are Apache's for fields and the request line; the head size lies between Node's
(16 KB) and Go's (1 MB).
"""

import asyncio
import json
from http import HTTPStatus
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.http.errors import error_body_at

MAX_HEAD_BYTES = 128 * 1024  # request line and headers
MAX_HEADERS = 100
# The request line's target, as Apache's LimitRequestLine: the query string's parser
# (Starlette's QueryParams) runs on the event loop, in time that grows with its length.
MAX_URL_BYTES = 8 * 1024
# Chunks of one chunked body: each costs a Python call on the event loop. An upload of the
# largest size allowed needs no more than this unless its chunks are under ~1 KiB.
MAX_CHUNKS = 4096
HEAD_SLICE = 16 * 1024  # a head is parsed this much at a time


class HeadTooLarge(Exception):
    """Raised in a parser callback: the parser stops there, and uvicorn calls send_400_response.
    (Too many body chunks too: the same way out.)"""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 431 (414, 413) and closes once a request's head (target,
    chunk count) passes the limits."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.in_head = True  # until a request's headers are complete, and again after it
        self.head_bytes = 0  # bytes fed while in a head, since the last request ended
        self.header_count = 0
        self.chunks = 0
        self.refusal: tuple[int, str] | None = None

    def data_received(self, data: bytes) -> None:
        start = 0
        # A head is fed a slice at a time, counted, and never past MAX_HEAD_BYTES + 1: a head
        # within the limit ends before the count passes it. A slice may go on past the head's
        # end (body, or further requests): the count restarts when a request ends.
        while self.in_head and start < len(data):
            room = MAX_HEAD_BYTES + 1 - self.head_bytes
            piece = data[start : start + min(HEAD_SLICE, max(room, 1))]
            start += len(piece)
            self.head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            if self.in_head and self.head_bytes > MAX_HEAD_BYTES:
                self.refuse(431, f"the request line and headers are over {MAX_HEAD_BYTES} bytes")
                return
        if start < len(data):
            super().data_received(data[start:] if start else data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head, self.header_count, self.chunks = True, 0, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self.refusal = (414, f"the request target is over {MAX_URL_BYTES} bytes")
            raise HeadTooLarge(self.refusal[1])

    def on_chunk_header(self) -> None:
        self.chunks += 1
        if self.chunks > MAX_CHUNKS:
            self.refusal = (413, f"the request body comes in over {MAX_CHUNKS} chunks")
            raise HeadTooLarge(self.refusal[1])

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count > MAX_HEADERS:
            self.refusal = (431, f"the request has over {MAX_HEADERS} header fields")
            raise HeadTooLarge(self.refusal[1])
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head, self.head_bytes = True, 0

    def send_400_response(self, msg: str) -> None:
        if self.refusal is not None:  # the parser stopped at our HeadTooLarge
            self.refuse(*self.refusal)
        else:
            super().send_400_response(msg)

    def refuse(self, status: int, reason: str) -> None:
        """431 Request Header Fields Too Large, 414 URI Too Long or 413 Content Too Large, JSON
        as every error here, and close. Without the answer if another one is under way: in a
        head, a pipelined request before this one may still be answering."""
        cycle = self.cycle  # in a head: the previous request's; in a body: this request's
        if self.in_head:
            answerable = cycle is None or cycle.response_complete
        else:
            answerable = not cycle.response_started
            cycle.disconnected = True  # what the app sends from now on goes nowhere
            cycle.message_event.set()
        if answerable:
            # The target's path is the route path: uvicorn puts root_path in front of it.
            path = self.url.partition(b"?")[0].decode("latin-1")
            body = json.dumps(error_body_at(path, reason)).encode()
            phrase = HTTPStatus(status).phrase.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, phrase, len(body), body)
            )
        self.transport.close()
