"""app.http.routes.direct: a DirectRoute is served by FastAPI's router like any route, and refuses
at creation what it would otherwise silently skip (dependencies and parameters)."""

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from app.http.routes.direct import DirectRoute, DirectRouteError, check_direct_routes


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"path": request.url.path, "bytes": len(body)})


class Refused(Exception):
    pass


async def refusing(request: Request) -> Response:
    raise Refused("no")


async def refused(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": f"refused: {exc}"}, status_code=418)


def direct_app(**route_options: Any) -> FastAPI:
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/echo", echo, methods=["POST"], **route_options)
    router.add_api_route("/refusing", refusing, methods=["POST"])
    app = FastAPI()
    app.include_router(router)
    app.add_exception_handler(Refused, refused)
    return app


def test_direct_route_is_served_by_the_router() -> None:
    response = TestClient(direct_app()).post("/echo", content=b"12345")
    assert response.json() == {"path": "/echo", "bytes": 5}


def test_direct_route_keeps_a_route_level_body_limit() -> None:
    client = TestClient(direct_app(max_body_size=10))
    assert client.post("/echo", content=b"x" * 10).status_code == 200
    assert client.post("/echo", content=b"x" * 100).status_code == 413


def test_direct_route_errors_go_through_the_app_handlers() -> None:
    response = TestClient(direct_app()).post("/refusing")
    assert (response.status_code, response.json()) == (418, {"detail": "refused: no"})


def test_direct_route_is_documented() -> None:
    schema = TestClient(direct_app()).get("/openapi.json").json()
    assert "post" in schema["paths"]["/echo"]


async def require_key() -> None:
    raise HTTPException(401, "no key")


async def with_dependency(request: Request, key: Annotated[None, Depends(require_key)]) -> Response:
    return Response()


async def with_path_parameter(request: Request, digit: Annotated[int, Path()]) -> Response:
    return Response()


async def with_query_parameter(request: Request, limit: int = 3) -> Response:
    return Response()


def declare_route_dependency() -> None:
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/x", echo, methods=["POST"], dependencies=[Depends(require_key)])


def declare_router_dependency() -> None:
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/x", echo, methods=["POST"])
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(require_key)])
    check_direct_routes(app.routes)


def declare_parent_router_dependency() -> None:
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/x", echo, methods=["POST"])
    parent = APIRouter(dependencies=[Depends(require_key)])
    parent.include_router(router)
    app = FastAPI()
    app.include_router(parent, prefix="/v1")
    check_direct_routes(app.routes)


def declare_parameter_dependency() -> None:
    APIRouter(route_class=DirectRoute).add_api_route("/x", with_dependency, methods=["POST"])


def declare_path_parameter() -> None:
    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/x/{digit}", with_path_parameter, methods=["POST"])


def declare_undeclared_path_parameter() -> None:
    APIRouter(route_class=DirectRoute).add_api_route("/x/{digit}", echo, methods=["POST"])


def declare_query_parameter() -> None:
    APIRouter(route_class=DirectRoute).add_api_route("/x", with_query_parameter, methods=["POST"])


@pytest.mark.parametrize(
    ("declare", "named"),
    [
        (declare_route_dependency, "dependency"),
        (declare_router_dependency, "dependency"),
        (declare_parent_router_dependency, "dependency"),
        (declare_parameter_dependency, "dependency"),
        (declare_path_parameter, "path parameter 'digit'"),
        (declare_undeclared_path_parameter, "path parameters in '/x/{digit}'"),
        (declare_query_parameter, "query parameter 'limit'"),
    ],
)
def test_direct_route_refuses_what_it_would_skip(declare: Callable[[], None], named: str) -> None:
    with pytest.raises(DirectRouteError, match="use an APIRoute") as raised:
        declare()
    assert named in str(raised.value)


def test_check_direct_routes_passes_a_plain_inclusion() -> None:
    check_direct_routes(direct_app().routes)


def test_service_predict_routes_are_direct_routes() -> None:
    from app.http.routes import predict

    paths = {route.path for route in predict.router.routes if isinstance(route, DirectRoute)}
    assert paths == {"/predict", "/predict/batch"}
