"""`DirectRoute`: a route whose endpoint reads its own `Request` and returns its own `Response`.

FastAPI's router serves it like any other route (middleware, route-level body limits, exception
handlers all apply) and documents it (response_model, responses, openapi_extra), but resolves
nothing per request: no dependency solving, parameter validation or response serialisation.
Overriding `get_route_handler` is FastAPI's documented extension point for custom route classes.
"""

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRouteError(TypeError):
    """A DirectRoute declared what it would silently ignore: dependencies or parameters."""


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint is `async (Request) -> Response`.

    It refuses, when the route is created, anything FastAPI would resolve per request, since its
    handler never resolves it: a `Depends` (an auth dependency would be skipped), path, query,
    header, cookie or body parameters. Dependencies a router adds when it is included are checked
    by `check_direct_routes` on the assembled app.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        refuse_declared(path, self.dependant, bool(self.param_convertors))

    def get_route_handler(self) -> Endpoint:
        return self.endpoint  # type: ignore[no-any-return]


def check_direct_routes(routes: Sequence[BaseRoute]) -> None:
    """Raise DirectRouteError for a DirectRoute that its including routers gave dependencies."""
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, DirectRoute):
            path = context.path or ""
            refuse_declared(path, context.dependant, bool(context.param_convertors))


def refuse_declared(path: str, dependant: Dependant, has_path_parameters: bool) -> None:
    """DirectRouteError naming every dependency and parameter `dependant` declares."""
    declared = [
        *(f"dependency {sub.call!r}" for sub in dependant.dependencies),
        *(f"path parameter {p.name!r}" for p in dependant.path_params),
        *(f"query parameter {p.name!r}" for p in dependant.query_params),
        *(f"header parameter {p.name!r}" for p in dependant.header_params),
        *(f"cookie parameter {p.name!r}" for p in dependant.cookie_params),
        *(f"body parameter {p.name!r}" for p in dependant.body_params),
    ]
    if has_path_parameters and not dependant.path_params:
        declared.append(f"path parameters in {path!r}")
    if declared:
        raise DirectRouteError(
            f"DirectRoute {path!r} takes only the Request and resolves nothing per request, "
            f"but declares {', '.join(declared)}; use an APIRoute for it"
        )
