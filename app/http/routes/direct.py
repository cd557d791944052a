"""Hot paths: routes FastAPI documents, served without its per-request machinery.

`DirectRoute` endpoints take the `Request` and return a `Response` themselves: no dependency
solving, parameter validation or response serialisation (~70 µs of FastAPI's ~140 µs a request).
`DirectRouting`, the innermost middleware, hands their requests to them directly, skipping the
exception middleware, exit stack and router behind it; what an endpoint raises goes through
Starlette's own exception wrapper to the app's handlers, exactly as in a routed request.
"""

from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette._utils import get_route_path  # both as fastapi.routing imports them
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """A route whose endpoint is `async (Request) -> Response`.

    FastAPI still builds its OpenAPI (response_model, responses, openapi_extra for the request
    it reads), and it still works through the router when DirectRouting does not serve it.
    """

    def get_route_handler(self) -> Endpoint:
        return self.endpoint  # type: ignore[no-any-return]


class DirectRouting:
    """Serve every DirectRoute of `routes` (mounted without a prefix) on an exact method and
    path; everything else goes on to FastAPI's router. `handlers` is the app's
    `exception_handlers`: they apply through Starlette's own `wrap_app_handling_exceptions`, as
    for a routed request; what none handles (or the catch-all `Exception` / 500 handler's) goes
    up to ServerErrorMiddleware.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[BaseRoute],
        handlers: Mapping[Any, Callable[..., Any]],
    ) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], DirectRoute] = {}
        for route in routes:
            if isinstance(route, DirectRoute):
                if route.param_convertors:
                    raise ValueError(f"a DirectRoute has no path parameters: {route.path}")
                for method in route.methods or ():
                    self.routes[method, route.path] = route
        # What ExceptionMiddleware puts in the scope: FastAPI keeps 500 and Exception for
        # ServerErrorMiddleware (FastAPI.build_middleware_stack).
        kept = {key: h for key, h in handlers.items() if key not in (500, Exception)}
        self.exception_handlers = (
            {key: h for key, h in kept.items() if not isinstance(key, int)},
            {key: h for key, h in kept.items() if isinstance(key, int)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            route = self.routes.get((scope["method"], get_route_path(scope)))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        scope["starlette.exception_handlers"] = self.exception_handlers
        request = Request(scope, receive, send)

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            response = await route.endpoint(request)
            await response(scope, receive, send)

        # As Starlette's request_response does for a routed request.
        await wrap_app_handling_exceptions(respond, request)(scope, receive, send)
