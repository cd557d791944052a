"""The Open Inference Protocol's gRPC service: thin, over the data plane REST V2 uses.

Every RPC goes through `rpc`, the one place where domain errors become status codes.
"""

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from app import __version__
from app.http.dependencies import Serving
from app.imaging.decoder import is_heavy
from app.inference.batching import Overloaded
from app.inference.layout import version_number
from app.inference.served import Served, VersionNotFound
from app.protocol import oip
from app.protocol.grpc import converters
from app.protocol.grpc import predict_v2_pb2 as pb
from app.protocol.grpc import predict_v2_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)
Request = TypeVar("Request")
Response = TypeVar("Response")
Method = Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]
# ProtocolError's HTTP status -> gRPC code; any other 4xx is INVALID_ARGUMENT.
CODES = {
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def status_code(exc: Exception) -> grpc.StatusCode:
    """The gRPC code of a refused request (ProtocolError, VersionNotFound, Overloaded)."""
    if isinstance(exc, VersionNotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.UNAVAILABLE
    status = exc.status if isinstance(exc, oip.ProtocolError) else 400
    return CODES.get(status, grpc.StatusCode.INVALID_ARGUMENT)


def rpc(method: Method[Request, Response]) -> Method[Request, Response]:
    """Answer the RPC, or abort with the refusal's code and message; count it either way."""
    name = method.__name__

    @functools.wraps(method)
    async def handle(
        self: "InferenceServicer", request: Request, context: grpc.aio.ServicerContext
    ) -> Response:
        start = time.perf_counter()
        try:
            response = await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except (oip.ProtocolError, VersionNotFound, Overloaded) as exc:
            code = status_code(exc)
            self.observe(name, code, start)
            retry = [("retry-after", str(exc.retry_after))] if isinstance(exc, Overloaded) else []
            await context.abort(code, str(exc), trailing_metadata=tuple(retry))
            raise  # not reached: abort raises
        except Exception:
            logger.exception("gRPC %s failed", name)
            self.observe(name, grpc.StatusCode.INTERNAL, start)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
            raise
        self.observe(name, grpc.StatusCode.OK, start)
        return response

    return handle


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService over the lifespan's model repository, decoder, settings
    and metrics; `ready` is the service's readiness (REST's /v2/health/ready)."""

    def __init__(self, serving: Serving, ready: Callable[[], bool]) -> None:
        self.serving = serving
        self.ready = ready

    def observe(self, method: str, code: grpc.StatusCode, start: float) -> None:
        if self.serving.metrics is not None:
            seconds = time.perf_counter() - start
            self.serving.metrics.observe_rpc(method, code.name, seconds)

    def requested_version(self, name: str, text: str) -> int | None:
        """The version asked for (None: the default); VersionNotFound for one not served."""
        oip.check_model(name, None, "")
        if not text:
            return None
        version = version_number(text)
        if version not in self.serving.models.versions:
            raise VersionNotFound(text[:40], self.serving.models.versions)
        return version

    @rpc
    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    @rpc
    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.ready())

    @rpc
    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> Any:
        version = self.requested_version(request.name, request.version)
        ready = self.ready() and (version is None or version in self.serving.models.versions)
        return pb.ModelReadyResponse(ready=ready)

    @rpc
    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> Any:
        return converters.server_metadata(oip.server_metadata(__version__))

    @rpc
    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> Any:
        version = self.requested_version(request.name, request.version)
        models = self.serving.models
        served = models.get(version)
        metadata = oip.model_metadata(str(served.version), self.abstains(served))
        if version is None:  # the model: every version served, the default first
            others = [v for v in reversed(models.versions) if v != served.version]
            metadata["versions"] = [str(v) for v in [served.version, *others]]
        return converters.model_metadata(metadata)

    @rpc
    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> Any:
        version = self.requested_version(request.model_name, request.model_version)
        settings, decoder = self.serving.settings, self.serving.decoder
        with self.serving.models.lease(version) as served:
            abstains = self.abstains(served)
            parsed = converters.parse_infer_request(request, settings.max_batch_files, abstains)
            if parsed.pixels is not None:
                rows, refusals = oip.request_rows(parsed, settings.max_image_pixels)
            else:  # images decode on the decoder's threads, as REST's
                heavy = any(is_heavy(image) for image in parsed.images)
                rows, refusals = await decoder.run(
                    oip.request_rows, parsed, settings.max_image_pixels, heavy=heavy
                )
            probabilities = await served.engine.predict(rows)
        verdicts = self.serving.verdicts(served.info, probabilities, refusals)
        return converters.infer_response(
            parsed, probabilities, str(served.version), verdicts if abstains else None
        )

    def abstains(self, served: Served) -> bool:
        return self.serving.threshold(served.info) is not None
