"""The service's one ASGI middleware: what every request meets before a route.

Per HTTP request, in order: an X-Request-ID, the API key (app.http.security), the body's size
and time limits (the whole body is read here, so routes get it complete), then the app; one log
line and the request metrics at the end. At startup, a ModelLoadError reported as its one-line
message. One layer for all of it: each ASGI layer costs every request a call and a wrapped send.
"""

import asyncio
import logging
import random
import sys
import time
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import error_body
from app.http.security import KeyCheck, is_preflight
from app.inference.model_file import ModelLoadError
from app.metrics import UNMATCHED, Metrics

logger = logging.getLogger("app.access")
Refusal = tuple[int, str, dict[str, str]]  # status, message, extra headers
CLOSE = {"connection": "close"}
# Over 18 digits is over any limit; int() would refuse over 4,300 of them.
MAX_LENGTH_DIGITS = 18


class ServiceMiddleware:
    """Request id, API key, body limits (413 over `limit` bytes, 408 and a closed connection if
    the body is not complete `timeout_s` after the request began), telemetry, quiet startup."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        limit: int,
        timeout_s: float,
        key: KeyCheck | None = None,
        cors: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.limit = limit
        self.timeout_s = timeout_s
        self.key = key
        self.cors = cors  # the CORS middleware's options: refusals carry its headers too
        self.too_large = f"request body is larger than the {limit}-byte limit"
        self.too_late = f"the request body was not received within {timeout_s:g} s"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, quiet_startup(send))
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = _request_id(scope["headers"])
        tag = (b"x-request-id", request_id.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), tag]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            refusal = self.refusal(scope)
            first: Message | None = None
            if refusal is None:
                first, refusal = await self.read_body(scope, receive)
            if refusal is not None:
                await self.refuse(scope, receive, send_with_id, refusal)
            else:
                await self.app(scope, replay(first, receive), send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_flight.dec()
            self.log(scope, status, seconds, request_id)

    def refusal(self, scope: Scope) -> Refusal | None:
        """What the head alone refuses: the API key, a declared Content-Length over the limit."""
        if self.key is not None and not (self.cors and is_preflight(scope)):
            refused = self.key.refusal(scope)
            if refused is not None:
                return refused
        declared = _header(scope["headers"], b"content-length")
        if (
            declared is not None
            and declared.isdigit()
            and (len(declared) > MAX_LENGTH_DIGITS or int(declared) > self.limit)
        ):
            return 413, self.too_large, {}
        return None

    async def read_body(self, scope: Scope, receive: Receive) -> tuple[Message, Refusal | None]:
        """The whole body as one `http.request` message (or the client's disconnect), or the
        refusal that stopped reading it."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return message, None  # gone: the app meets the disconnect
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        return message, (413, self.too_large, {})
                    if not message.get("more_body", False):
                        break
                    chunks.append(chunk)
        except TimeoutError:
            return {"type": "http.disconnect"}, (408, self.too_late, CLOSE)
        if not chunks:
            return message, None
        return {"type": "http.request", "body": b"".join([*chunks, chunk])}, None

    async def refuse(self, scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
        status, message, headers = refusal
        response: ASGIApp = JSONResponse(error_body(scope, message), status, headers)
        if self.cors is not None:
            response = CORSMiddleware(response, **self.cors)
        await response(scope, receive, send)

    def log(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        # The router stores the matched route in the scope; its path is the template.
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        self.metrics.observe_request(route, scope["method"], status, seconds)
        if not logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
            "request_id": request_id,
        }
        prediction = scope.get("state", {}).get("prediction")
        if prediction is not None:
            fields["digit"], fields["confidence"] = prediction
        logger.info("request", extra={"fields": fields})


def replay(first: Message | None, receive: Receive) -> Receive:
    """A receive that gives the body read ahead, then whatever the client sends next."""

    async def receive_body() -> Message:
        nonlocal first
        if first is None:
            return await receive()
        message, first = first, None
        return message

    return receive_body


def quiet_startup(send: Send) -> Send:
    """Report a ModelLoadError at startup as its one-line message instead of a traceback."""

    async def send_short(message: Message) -> None:
        error = sys.exc_info()[1]
        if message["type"] == "lifespan.startup.failed" and isinstance(error, ModelLoadError):
            message = {**message, "message": f"startup failed: {error}"}
        await send(message)

    return send_short


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI gives them), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID (first 64 characters), or a new random 128-bit hex one."""
    given = _header(headers, b"x-request-id")
    if given:
        return given[:64].decode("latin-1")
    # An id to correlate lines, not a secret: Python's PRNG, not a urandom syscall per request.
    return f"{random.getrandbits(128):032x}"
