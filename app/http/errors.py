"""Domain errors -> HTTP responses, in one place; and the error responses documented per route."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from app.http.forms import FormError
from app.http.schemas import ErrorResponse, ProtocolErrorResponse
from app.imaging.errors import (
    EmptyImage,
    ImageError,
    ImageTooLarge,
    NoInk,
    UndecodableImage,
    UnsupportedFormat,
)
from app.inference.batching import Overloaded
from app.inference.layout import RepositoryUnreadable
from app.inference.served import LoadFailed, VersionNotFound
from app.protocol.oip import ProtocolError

logger = logging.getLogger(__name__)
PROTOCOL_PREFIX = "/v2"  # the Open Inference Protocol's routes answer errors as {"error": ...}


def route_path(scope: Scope) -> str:
    """The path the app routes on: the request path without the proxy's `root_path` prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def protocol_route(path: str) -> bool:
    """True for a route path of the Open Inference Protocol (errors as `{"error": ...}`)."""
    return path == PROTOCOL_PREFIX or path.startswith(PROTOCOL_PREFIX + "/")


def error_body(scope: Scope, message: str) -> dict[str, str]:
    """An error in the route's format, for every error this service answers: the Open Inference
    Protocol's `{"error": message}` under /v2, FastAPI's `{"detail": message}` elsewhere."""
    return error_body_at(route_path(scope), message)


def error_body_at(path: str, message: str) -> dict[str, str]:
    """`error_body` for a route path (the server protocol's refusals, before any scope)."""
    return {"error" if protocol_route(path) else "detail": message}


def error_response(
    request: Request, message: str, status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(request.scope, message), status_code=status, headers=headers)


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


def error_doc(description: str, protocol: bool = False) -> dict[str, Any]:
    """An error response as a route documents it: its shape (`{"error"}` on the protocol's
    routes, else `{"detail"}`) and when it happens."""
    return {
        "model": ProtocolErrorResponse if protocol else ErrorResponse,
        "description": description,
    }


PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("empty, corrupt or truncated image"),
    404: error_doc(
        "no such model version is served (`?version=`); the message lists those that are"
    ),
    408: error_doc("the request body was not received in time"),
    413: error_doc("body over the upload limit, too many pixels, or too many files"),
    415: error_doc("not an image in an accepted format (PNG, JPEG, GIF, BMP, WebP, TIFF)"),
    422: error_doc("missing `file` field, not multipart, or an image with no digit in it"),
    503: error_doc("inference queue full: retry after the `Retry-After` seconds"),
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
    return error_response(request, describe_validation_errors(exc.errors()), 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    return error_response(request, str(exc.detail), exc.status_code, exc.headers)


async def _form_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, str(exc), 422)


async def _image_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageError)
    return error_response(request, str(exc), image_error_status(exc))


async def _overloaded(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Overloaded)
    headers = {"Retry-After": str(exc.retry_after)}
    return error_response(request, str(exc), 503, headers)


async def _protocol_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProtocolError)
    return error_response(request, str(exc), exc.status, exc.headers)


async def _version_not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, str(exc), 404)


async def _repository_unreadable(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, str(exc), 503)


async def _load_failed(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, str(exc), 400)


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; it only keeps a departed client out of the internal-error log.
    detail = "the client disconnected before the request body was complete"
    return error_response(request, detail, 400)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, INTERNAL_ERROR, 500)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(FormError, _form_error)
    app.add_exception_handler(ImageError, _image_error)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(ProtocolError, _protocol_error)
    app.add_exception_handler(VersionNotFound, _version_not_found)
    app.add_exception_handler(LoadFailed, _load_failed)
    app.add_exception_handler(RepositoryUnreadable, _repository_unreadable)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
