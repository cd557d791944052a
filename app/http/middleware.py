"""Pure ASGI middleware: body size and time limits, per-request log and metrics, quiet startup."""

import asyncio
import json
import logging
import random
import sys
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import error_body
from app.inference.model_file import ModelLoadError
from app.metrics import UNMATCHED, Metrics

logger = logging.getLogger("app.access")


async def send_json(
    send: Send, status: int, body: dict[str, Any], extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class RequestBodyGuard:
    """Refuse a body without reading on: 413 over `limit` bytes (by Content-Length, or counted as
    it streams in), 408 and a closed connection if not fully received `timeout_s` after the
    request began (a client sending a byte at a time would otherwise hold a request forever).
    """

    def __init__(self, app: ASGIApp, limit: int, timeout_s: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s
        self.too_large = f"request body is larger than the {limit}-byte limit"
        self.too_late = f"the request body was not received within {timeout_s:g} s"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = self.too_large
        declared = _header(scope["headers"], b"content-length")
        # Over 18 digits is over any limit; int() would refuse over 4,300 of them.
        if (
            declared is not None
            and declared.isdigit()
            and (len(declared) > 18 or int(declared) > self.limit)
        ):
            await send_json(send, 413, error_body(scope, too_large))
            return
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        seen = 0
        complete = started = waiting = expired = False
        refusal: tuple[int, str, tuple[tuple[bytes, bytes], ...]] | None = None

        def expire() -> None:  # one timer per request, not one per receive()
            nonlocal expired
            expired = True
            if waiting and task is not None:
                task.cancel()

        def refuse_late() -> Message:
            nonlocal refusal
            refusal = (408, self.too_late, ((b"connection", b"close"),))
            return {"type": "http.disconnect"}

        timer = loop.call_at(loop.time() + self.timeout_s, expire)

        async def guarded_receive() -> Message:
            nonlocal seen, complete, refusal, waiting
            if refusal is not None:
                return {"type": "http.disconnect"}  # to the app, refused is as good as gone
            if complete:  # after the body, receive() waits for a disconnect: no limit on that
                return await receive()
            if expired:
                return refuse_late()
            cancelling = task.cancelling() if task is not None else 0
            waiting = True
            try:
                received = await receive()
            except asyncio.CancelledError:
                if not expired or task is None or task.uncancel() > cancelling:
                    raise  # not our timer's cancellation
                return refuse_late()
            finally:
                waiting = False
            if received["type"] == "http.request":
                seen += len(received.get("body", b""))
                if seen > self.limit:
                    refusal = (413, too_large, ())
                    raise _BodyRefused
            complete = received["type"] != "http.request" or not received.get("more_body")
            if complete:
                timer.cancel()
            return received

        async def guarded_send(sent: Message) -> None:
            nonlocal started
            if refusal is not None:
                return  # the app's reaction to the aborted read is replaced by our refusal
            started = started or sent["type"] == "http.response.start"
            await send(sent)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except _BodyRefused:
            pass
        except Exception:
            if refusal is None:
                raise
        finally:
            timer.cancel()
        if refusal is not None and not started:
            status, message, headers = refusal
            await send_json(send, status, error_body(scope, message), headers)


class _BodyRefused(Exception):
    pass


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI gives them), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


class RequestTelemetry:
    """Per HTTP request: one log line (method, path, status, latency, request id, prediction),
    the Prometheus request metrics, and an X-Request-ID on the answer. One middleware for all
    three: each ASGI layer costs every request a coroutine and a wrapped `send`.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope["headers"])
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_flight.dec()
            # The router stores the matched route in the scope; its path is the template.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe_request(route, scope["method"], status, seconds)
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


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID (first 64 characters), or a new random 128-bit hex one."""
    given = _header(headers, b"x-request-id")
    if given:
        return given[:64].decode("latin-1")
    # An id to correlate lines, not a secret: Python's PRNG, not a urandom syscall per request.
    return f"{random.getrandbits(128):032x}"


class QuietStartupFailure:
    """Report a ModelLoadError at startup as its one-line message instead of a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_short(message: Message) -> None:
            error = sys.exc_info()[1]
            if message["type"] == "lifespan.startup.failed" and isinstance(error, ModelLoadError):
                message = {**message, "message": f"startup failed: {error}"}
            await send(message)

        await self.app(scope, receive, send_short)
