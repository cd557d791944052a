"""Optional API key on every route but health and the page's static shell; CORS options."""

import hmac
import logging
from typing import Any

from fastapi import FastAPI
from starlette.types import Scope

from app.http.errors import protocol_route, route_path
from app.http.schemas import ErrorResponse, ProtocolErrorResponse

logger = logging.getLogger(__name__)

KEY_HEADER = "X-API-Key"
KEY_HEADERS = frozenset({b"authorization", KEY_HEADER.lower().encode()})
# Probes carry no secret; the page, its files and the API docs are the same for everyone, and
# the page asks the visitor for the key when the API answers 401 (see static/app.js).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/", "/docs", "/redoc", "/openapi.json"})
PUBLIC_PREFIXES = ("/v2/health/", "/static/")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mnist-serve"'}
MISSING = f"this service needs an API key: send `Authorization: Bearer <key>` or `{KEY_HEADER}`"
WRONG = "the API key is not valid"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AmbiguousKey(ValueError):
    """The request sends an Authorization or X-API-Key header more than once."""


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key from `Authorization: Bearer <key>` or else from `X-API-Key`; None if neither;
    AmbiguousKey if either header comes twice (proxies disagree on which copy counts)."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in KEY_HEADERS:
            if name in found:
                raise AmbiguousKey(f"the {name.decode()} header is sent more than once")
            found[name] = value
    scheme, _, token = found.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return token.strip()
    return found.get(KEY_HEADER.lower().encode()) or None


class KeyCheck:
    """The API key's verdict on a request: None to let it through, else the refusal (401 with
    `WWW-Authenticate`, or 400 for a key sent twice). The service's middleware asks it."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()

    def refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        # OPTIONS too: it reveals a route's methods (405 + Allow). CORS preflights, which carry
        # no key, are answered by CORSMiddleware before this check (see is_preflight).
        if is_public(route_path(scope)):
            return None
        try:
            key = presented_key(scope["headers"])
        except AmbiguousKey as exc:
            self.log_refusal(scope, "ambiguous")
            return 400, f"{exc}; send the API key once", {}
        if key is not None and hmac.compare_digest(key, self.key):
            return None
        self.log_refusal(scope, "missing" if key is None else "wrong")
        return 401, MISSING if key is None else WRONG, CHALLENGE

    @staticmethod
    def log_refusal(scope: Scope, reason: str) -> None:
        client = scope.get("client") or ("?", 0)
        # The presented key is never logged, not even in part.
        logger.warning(
            "API key %s", reason, extra={"fields": {"path": scope["path"], "client": client[0]}}
        )


def is_preflight(scope: Scope) -> bool:
    """A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method (as Starlette's
    CORSMiddleware tells them apart); browsers send it without credentials."""
    if scope["method"] != "OPTIONS":
        return False
    names = {name for name, _ in scope["headers"]}
    return b"origin" in names and b"access-control-request-method" in names


def cors_options(origins: list[str]) -> dict[str, Any] | None:
    """CORSMiddleware's options for those browser origins; None (no CORS headers) for none."""
    if not origins:
        return None
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["Authorization", KEY_HEADER, "Content-Type", "X-Request-ID"],
        "expose_headers": ["Retry-After", "X-Request-ID"],
    }


def document_api_key(app: FastAPI) -> None:
    """Declare the key in the OpenAPI schema, so /docs offers 'Authorize' and lists the 401."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER},
        }
        schemas = components.setdefault("schemas", {})
        for model in (ErrorResponse, ProtocolErrorResponse):
            schemas.setdefault(model.__name__, model.model_json_schema())
        for path, operations in schema.get("paths", {}).items():
            if is_public(path):
                continue
            model = ProtocolErrorResponse if protocol_route(path) else ErrorResponse
            unauthorized = {
                "description": "missing or wrong API key",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                    }
                },
            }
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                operation.setdefault("responses", {})["401"] = unauthorized
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
