"""Hot paths: routes FastAPI documents, served without its per-request machinery.

`DirectRoute` endpoints take the `Request` and return a `Response` themselves: no dependency
solving, parameter validation or response serialisation (~70 µs of FastAPI's ~140 µs a request).
`DirectRouting`, the innermost middleware, hands their requests to them directly, skipping the
exception middleware, exit stack, router and request wrapper behind it (~45 µs more); what an
endpoint raises goes to the app's exception handlers exactly as in a routed request.
"""

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    `exception_handlers`: status-code and class handlers apply as Starlette applies them; what
    none handles (or the catch-all `Exception` handler's) goes up to ServerErrorMiddleware.
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
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            route = self.routes.get((scope["method"], _route_path(scope)))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        request = Request(scope, receive, send)
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        # As Starlette's request_response + wrap_app_handling_exceptions do for a routed request.
        try:
            response = await route.endpoint(request)
            await response(scope, receive, sender)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            if started:
                message = "Caught handled exception, but response already started."
                raise RuntimeError(message) from exc
            if _is_async(handler):
                handled = await handler(request, exc)
            else:
                handled = await run_in_threadpool(handler, request, exc)
            if handled is not None:
                await handled(scope, receive, sender)

    def _handler(self, exc: Exception) -> Callable[..., Any] | None:
        """Starlette's choice: a handler for the HTTPException's status, else the nearest class
        in the exception's MRO; never the catch-all, which is ServerErrorMiddleware's."""
        handler = None
        if isinstance(exc, HTTPException) and exc.status_code != 500:
            handler = self.handlers.get(exc.status_code)
        if handler is None:
            for cls in type(exc).__mro__:
                if cls is Exception:
                    break
                if cls in self.handlers:
                    handler = self.handlers[cls]
                    break
        return handler


def _is_async(handler: Callable[..., Any]) -> bool:
    """An `async def` function, a partial of one, or an object with an `async def __call__`."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    call = type(handler).__call__ if not inspect.isroutine(handler) else None
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the root path a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path
