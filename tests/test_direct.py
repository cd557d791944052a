"""app.http.routes.direct: DirectRouting serves DirectRoute endpoints itself, maps what they raise
through the app's exception handlers as Starlette does, and answers exactly as the router would."""

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.routes.direct import DirectRoute, DirectRouting, Endpoint
from app.main import create_app
from app.settings import Settings
from tests.test_metrics import metrics_of, value


class Refused(Exception):
    pass


class RefusedBadly(Refused):  # no handler of its own: Refused's, through the MRO
    pass


class RefusedQuietly(Refused):  # its own handler, nearer in the MRO than Refused's
    pass


class SyncHandled(Exception):
    pass


class Unhandled(Exception):
    pass


class ObjectHandled(Exception):
    pass


router = APIRouter(route_class=DirectRoute)


@router.post("/echo")
async def echo(request: Request) -> Response:
    body = {"body": (await request.body()).decode(), "q": request.query_params.get("q")}
    return JSONResponse(body, status_code=201, headers={"X-Echo": "yes"})


RAISED: dict[str, Exception] = {
    "/refused": Refused("no"),
    "/refused-badly": RefusedBadly("really no"),
    "/refused-quietly": RefusedQuietly("shh"),
    "/sync-handled": SyncHandled("handled in a thread"),
    "/too-large": HTTPException(413, "over the limit", headers={"X-Limit": "10"}),
    "/teapot": HTTPException(418, "not coffee"),
    "/http-500": HTTPException(500, "given up"),
    "/boom": Unhandled("nobody handles this"),
    "/object-handled": ObjectHandled("by an object"),
}


def _raising(exc: Exception) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        raise exc

    return endpoint


for _path, _exc in RAISED.items():
    router.add_api_route(_path, _raising(_exc), methods=["POST"])


async def refused(request: Request, exc: Exception) -> Response:
    return JSONResponse({"refused": str(exc), "as": type(exc).__name__}, status_code=409)


async def refused_quietly(request: Request, exc: Exception) -> Response:
    return Response(status_code=204)


def sync_handled(request: Request, exc: Exception) -> Response:
    try:
        asyncio.get_running_loop()
        where = "on the event loop"
    except RuntimeError:  # Starlette runs a plain `def` handler in a worker thread
        where = "in a worker thread"
    return PlainTextResponse(f"sync: {exc}, {where}", status_code=400)


async def teapot(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("short and stout", status_code=418)


class ObjectHandler:
    """A handler that is an object with an `async def __call__`: awaited, as Starlette does."""

    async def __call__(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"object: {exc}", status_code=402)


async def last_resort(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": f"last resort: {type(exc).__name__}"}, status_code=500)


class Recorder:
    """Middleware that keeps every HTTP scope it sees: the dict itself, so what inner layers
    add to it (the route) shows afterwards, as it does to app.http.middleware.RequestTelemetry."""

    def __init__(self, app: ASGIApp, scopes: list[Scope]) -> None:
        self.app = app
        self.scopes = scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.scopes.append(scope)
        await self.app(scope, receive, send)


@dataclass
class Tiny:
    app: FastAPI
    outer: list[Scope] = field(default_factory=list)  # every request, as seen from outside
    inner: list[Scope] = field(default_factory=list)  # requests that went on to the router


def tiny_app(direct: bool = True) -> Tiny:
    """An app with the test router and handlers; with `direct`, DirectRouting innermost."""
    tiny = Tiny(FastAPI())
    app = tiny.app
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RefusedQuietly, refused_quietly)
    app.add_exception_handler(SyncHandled, sync_handled)
    app.add_exception_handler(ObjectHandled, ObjectHandler())
    app.add_exception_handler(418, teapot)
    app.add_exception_handler(500, last_resort)
    app.add_exception_handler(Exception, last_resort)
    app.include_router(router)

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"served": "by the router"}

    app.add_middleware(Recorder, scopes=tiny.inner)
    if direct:
        app.add_middleware(DirectRouting, routes=router.routes, handlers=app.exception_handlers)
    app.add_middleware(Recorder, scopes=tiny.outer)
    return tiny


def route_of(path: str) -> APIRoute:
    found = [route for route in router.routes if isinstance(route, APIRoute) and route.path == path]
    assert len(found) == 1
    return found[0]


def test_direct_routing_serves_the_endpoint_itself() -> None:
    tiny = tiny_app()
    response = TestClient(tiny.app).post("/echo", params={"q": "7"}, content=b"hello")
    assert response.status_code == 201
    assert response.json() == {"body": "hello", "q": "7"}
    assert response.headers["x-echo"] == "yes"
    assert tiny.inner == []  # the router never saw it


def test_direct_routing_sets_the_route_for_outer_middleware() -> None:
    tiny = tiny_app()
    TestClient(tiny.app).post("/echo")
    (scope,) = tiny.outer
    assert scope["route"] is route_of("/echo")
    assert scope["route"].path == "/echo"  # the template app.http.middleware puts in the metrics
    assert scope["endpoint"] is echo
    assert scope["path_params"] == {}


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("GET", "/echo", 405, "Method Not Allowed"),
        ("PUT", "/refused", 405, "Method Not Allowed"),
        ("POST", "/nowhere", 404, "Not Found"),
    ],
)
def test_direct_routing_leaves_other_requests_to_the_router(
    method: str, path: str, status: int, detail: str
) -> None:
    tiny = tiny_app()
    response = TestClient(tiny.app).request(method, path)
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    if status == 405:
        assert response.headers["allow"] == "POST"
    assert [scope["path"] for scope in tiny.inner] == [path]


def test_direct_routing_leaves_plain_routes_to_the_router() -> None:
    tiny = tiny_app()
    response = TestClient(tiny.app).get("/plain")
    assert response.json() == {"served": "by the router"}
    assert [scope["path"] for scope in tiny.inner] == ["/plain"]


@pytest.mark.parametrize("path", ["/api/echo", "/echo"], ids=["with-root", "root-stripped"])
def test_direct_routing_serves_under_a_root_path(path: str) -> None:
    tiny = tiny_app()
    response = TestClient(tiny.app, root_path="/api").post(path, content=b"x")
    assert response.status_code == 201
    assert response.json() == {"body": "x", "q": None}
    assert tiny.inner == []
    assert tiny.outer[0]["route"] is route_of("/echo")


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/refused", 409, b'{"refused":"no","as":"Refused"}'),
        ("/refused-badly", 409, b'{"refused":"really no","as":"RefusedBadly"}'),
        ("/refused-quietly", 204, b""),
        ("/sync-handled", 400, b"sync: handled in a thread, in a worker thread"),
        ("/object-handled", 402, b"object: by an object"),
        ("/too-large", 413, b'{"detail":"over the limit"}'),
        ("/teapot", 418, b"short and stout"),
        ("/http-500", 500, b'{"detail":"given up"}'),  # FastAPI's handler, not the 500 one
    ],
)
def test_direct_routing_maps_exceptions_through_the_app_handlers(
    path: str, status: int, body: bytes
) -> None:
    tiny = tiny_app()
    response = TestClient(tiny.app).post(path)
    assert (response.status_code, response.content) == (status, body)
    assert tiny.inner == []


def test_direct_routing_keeps_http_exception_headers() -> None:
    response = TestClient(tiny_app().app).post("/too-large")
    assert response.headers["x-limit"] == "10"
    assert response.headers["content-type"] == "application/json"


def test_direct_routing_leaves_unhandled_errors_to_server_error_middleware() -> None:
    tiny = tiny_app()
    response = TestClient(tiny.app, raise_server_exceptions=False).post("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "last resort: Unhandled"}
    assert tiny.inner == []


def test_direct_routing_reraises_unhandled_errors_for_the_server_log() -> None:
    # Starlette's ServerErrorMiddleware answers with the catch-all handler, then re-raises; had
    # DirectRouting called that handler itself, nothing would reach the test client here.
    with pytest.raises(Unhandled, match="nobody handles this"):
        TestClient(tiny_app().app).post("/boom")


def test_direct_routing_refuses_a_direct_route_with_path_parameters() -> None:
    with_parameter = APIRouter(route_class=DirectRoute)
    with_parameter.add_api_route("/items/{item_id}", echo, methods=["POST"])
    with pytest.raises(ValueError, match=re.escape("/items/{item_id}")):
        DirectRouting(FastAPI(), routes=with_parameter.routes, handlers={})


async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("fallback", status_code=299)(scope, receive, send)


def test_direct_routing_serves_only_direct_routes() -> None:
    plain = APIRoute("/plain", echo, methods=["POST"])
    asgi = DirectRouting(fallback, routes=[route_of("/echo"), plain], handlers={})
    client = TestClient(asgi)
    assert client.post("/echo", content=b"z").json() == {"body": "z", "q": None}
    assert client.post("/plain").text == "fallback"
    assert client.get("/echo").text == "fallback"


# Requests answered the same with or without DirectRouting: (method, path, options).
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/echo", {"params": {"q": "x y"}, "content": b"\x00data"}),
    *(("POST", path, {}) for path in RAISED),
    ("GET", "/echo", {}),
    ("POST", "/nowhere", {}),
    ("GET", "/plain", {}),
]


@pytest.mark.parametrize(("method", "path", "options"), REQUESTS, ids=[r[1] for r in REQUESTS])
def test_direct_routing_answers_as_the_router(
    method: str, path: str, options: dict[str, Any]
) -> None:
    answers = []
    for direct in (True, False):
        client = TestClient(tiny_app(direct).app, raise_server_exceptions=False)
        response = client.request(method, path, **options)
        headers = sorted((k, v) for k, v in response.headers.multi_items() if k != "date")
        answers.append((response.status_code, headers, response.content))
    assert answers[0] == answers[1]


# --- the service ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def routed_client(settings: Settings) -> Iterator[TestClient]:
    """The real app without DirectRouting: /predict served through FastAPI's router, as before."""
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not DirectRouting]
    with TestClient(app) as test_client:
        yield test_client


def predict_request(case: str, digit_png: bytes) -> tuple[str, dict[str, Any]]:
    """(method, TestClient options) of a request to /predict, by case name."""
    if case == "digit":
        return "POST", {"files": {"file": ("d.png", digit_png, "image/png")}}
    if case == "not-an-image":
        return "POST", {"files": {"file": ("d.png", b"just text", "image/png")}}
    if case == "not-multipart":
        return "POST", {"data": {"file": "a form, but urlencoded"}}
    return "GET", {}


@pytest.mark.parametrize(
    ("case", "status"),
    [("digit", 200), ("not-an-image", 415), ("not-multipart", 422), ("get", 405)],
)
def test_service_predict_answers_as_through_the_router(
    client: TestClient, routed_client: TestClient, digit_png: bytes, case: str, status: int
) -> None:
    assert any(m.cls is DirectRouting for m in client.app.user_middleware)  # type: ignore[attr-defined]
    method, options = predict_request(case, digit_png)
    labels = {"route": "/predict", "method": method, "status": str(status)}
    answers = []
    for test_client in (client, routed_client):
        before = value(metrics_of(test_client), "http_requests_total", **labels)
        sent = {"X-Request-ID": f"direct-{case}"}
        response = test_client.request(method, "/predict", headers=sent, **options)
        assert value(metrics_of(test_client), "http_requests_total", **labels) == before + 1
        assert response.headers["x-request-id"] == f"direct-{case}"
        headers = sorted((k, v) for k, v in response.headers.multi_items() if k != "date")
        answers.append((response.status_code, headers, response.content))
    assert answers[0][0] == status
    assert answers[0] == answers[1]


def test_service_with_opentelemetry_routes_predict_through_fastapi(settings: Settings) -> None:
    """FastAPI names its spans after the route only in its router: no DirectRouting then."""
    traced = create_app(settings.model_copy(update={"opentelemetry": True}))
    assert not any(m.cls is DirectRouting for m in traced.user_middleware)
    assert any(m.cls is DirectRouting for m in create_app(settings).user_middleware)
