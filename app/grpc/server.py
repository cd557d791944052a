"""The gRPC server each worker runs beside HTTP: inference V2, health, reflection, the API key.

Each worker binds the same port (SO_REUSEPORT), as uvicorn's workers share the HTTP socket.
"""

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from app.grpc.servicer import InferenceServicer
from app.http.dependencies import Serving
from app.http.security import MISSING, WRONG, AmbiguousKey, presented_key
from app.protocol.grpc import predict_v2_pb2 as pb
from app.protocol.grpc import predict_v2_pb2_grpc as pb_grpc
from app.settings import env_name

logger = logging.getLogger(__name__)
SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
GRACE_S = 5.0  # calls in flight at shutdown get this long to finish
# As REST's /v2/health/*: probes carry no secret; reflection describes the API, as /openapi.json.
PUBLIC = (f"/{SERVICE}/ServerLive", f"/{SERVICE}/ServerReady", f"/{HEALTH}/", "/grpc.reflection.")


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """UNAUTHENTICATED unless a non-public call carries the key (metadata `x-api-key`, or
    `authorization: Bearer <key>`), compared in constant time."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        if details.method.startswith(PUBLIC):
            return await continuation(details)
        metadata = [
            (key.lower().encode(), value if isinstance(value, bytes) else value.encode())
            for key, value in details.invocation_metadata or ()
        ]
        try:
            key = presented_key(metadata)
        except AmbiguousKey as exc:
            return refusal(str(exc))
        if key is None:
            return refusal(MISSING)
        if not hmac.compare_digest(key, self.key):
            return refusal(WRONG)
        return await continuation(details)


def refusal(message: str) -> grpc.RpcMethodHandler:
    async def refuse(request: bytes, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(refuse)


class ReadinessHealth(health.aio.HealthServicer):  # type: ignore[misc]
    """grpc.health.v1: SERVING while the service is ready (`ready`), for the server ("") and
    the inference service; NOT_SERVING once shutdown begins."""

    def __init__(self, ready: Callable[[], bool]) -> None:
        super().__init__()
        self.ready = ready

    async def Check(self, request: Any, context: Any) -> Any:
        serving = health_pb2.HealthCheckResponse.SERVING
        status = serving if self.ready() else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", SERVICE):
            await self.set(service, status)
        return await super().Check(request, context)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    """The started server; `stop` lets calls in flight finish (GRACE_S at most)."""

    def __init__(self, serving: Serving, ready: Callable[[], bool]) -> None:
        settings = serving.settings
        options = [
            ("grpc.so_reuseport", 1),
            # A larger message is refused with RESOURCE_EXHAUSTED before it is read.
            ("grpc.max_receive_message_length", settings.max_upload_bytes),
        ]
        key = settings.api_key
        interceptors = [ApiKeyInterceptor(key.get_secret_value())] if key is not None else []
        self.server = grpc.aio.server(interceptors=interceptors, options=options)
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(serving, ready), self.server
        )
        self.health = ReadinessHealth(ready)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        services = (SERVICE, HEALTH, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(services, self.server)
        self.address = address(settings.host, settings.grpc_port)

    async def start(self) -> None:
        try:
            self.server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise RuntimeError(
                f"cannot serve gRPC on {self.address} ({exc}); set --grpc-port or "
                f"{env_name('grpc_port')} (0: no gRPC server)"
            ) from None
        await self.server.start()
        logger.info("serving gRPC (Open Inference Protocol V2) on %s", self.address)

    async def stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(GRACE_S)
