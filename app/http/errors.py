"""Domain errors -> HTTP responses, in one place; and the error responses documented per route."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from app.http.forms import FormError
from app.http.middleware import error_body
from app.http.schemas import ErrorResponse
from app.imaging.preprocessing import (
    EmptyImage,
    ImageError,
    ImageTooLarge,
    NoInk,
    UndecodableImage,
    UnsupportedFormat,
)
from app.inference.batching import Overloaded
from app.protocol.oip import ProtocolError

logger = logging.getLogger(__name__)

IMAGE_ERROR_STATUS: dict[type[ImageError], int] = {
    EmptyImage: 400,
    UndecodableImage: 400,
    UnsupportedFormat: 415,
    ImageTooLarge: 413,
    NoInk: 422,
}


INTERNAL_ERROR = "internal error; see the server log"


def image_error_status(exc: ImageError) -> int:
    """The HTTP status for an image that cannot be used (a subclass maps as its nearest base)."""
    for kind in type(exc).__mro__:
        if kind in IMAGE_ERROR_STATUS:
            return IMAGE_ERROR_STATUS[kind]
    return 400


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("empty, corrupt or truncated image"),
    408: _error("the request body was not received in time"),
    413: _error("body over the upload limit, too many pixels, or too many files"),
    415: _error("not an image in an accepted format (PNG, JPEG, GIF, BMP, WebP, TIFF)"),
    422: _error("missing `file` field, not multipart, or an image with no digit in it"),
    503: _error("inference queue full: retry after the `Retry-After` seconds"),
}


PLACES = {"body": "multipart form field", "query": "query parameter", "header": "header"}


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """FastAPI's list of validation errors as one readable line, e.g. for a missing `file`."""
    messages = []
    for error in errors:
        source, *name = [str(part) for part in error.get("loc", ())] or ["request"]
        place = PLACES.get(source, source)
        where = f"{place} `{'.'.join(name)}`" if name else place
        messages.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(messages)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": describe_validation_errors(exc.errors())}, status_code=422)


async def _form_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _image_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageError)
    return JSONResponse({"detail": str(exc)}, status_code=image_error_status(exc))


async def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Overloaded)
    headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)


async def _protocol_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProtocolError)  # the /v2 routes: the protocol's {"error": ...} format
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; it only keeps a departed client out of the internal-error log.
    detail = "the client disconnected before the request body was complete"
    return JSONResponse({"detail": detail}, status_code=400)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body(request.scope, INTERNAL_ERROR), status_code=500)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(FormError, _form_error)
    app.add_exception_handler(ImageError, _image_error)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(ProtocolError, _protocol_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
