"""Assemble the FastAPI app: settings, lifespan (open the model repository), routers, handlers."""

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.cors import CORSMiddleware

from app import __version__
from app.http.dependencies import Serving, not_ready
from app.http.errors import register_error_handlers
from app.http.middleware import ServiceMiddleware
from app.http.routes import health, metrics, predict, repository, ui, v2
from app.http.routes.direct import check_direct_routes
from app.http.security import KeyCheck, cors_options, document_api_key
from app.imaging.decoder import Decoder
from app.inference.batching import BatchingEngine
from app.inference.classifier import Classifier
from app.inference.control import ControlFile
from app.inference.layout import Found, Source
from app.inference.policy import VersionPolicy
from app.inference.repository import Repository
from app.logs import configure_logging
from app.metrics import Metrics
from app.settings import Settings

if TYPE_CHECKING:
    from app.grpc.server import GrpcServer

logger = logging.getLogger(__name__)
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """
Classifies handwritten digits with the Keras tutorial's MNIST network (784 -> 512 -> 512 -> 10).

Upload a PNG, JPEG, GIF, BMP, WebP or TIFF to **POST /predict**: a 28x28 MNIST digit is used as
it is; any other image (a canvas drawing, a photo or scan of paper, a screenshot) is first
normalised the way MNIST was made. Every error is JSON with a `detail` message, except on
the Open Inference Protocol routes under /v2, which answer `{"error": ...}` as it requires.
"""


def build_engine(
    classifier: Classifier, settings: Settings, metrics: Metrics | None = None
) -> BatchingEngine:
    predict = classifier.predict
    return BatchingEngine(
        metrics.counting_predictions(predict, classifier.info.version) if metrics else predict,
        max_queue=settings.queue_max_rows,
        observe=metrics.observe_batch if metrics else None,
    )


def build_repository(settings: Settings, metrics: Metrics | None = None) -> Repository:
    """The versions of the model repository, each loaded from its LiteRT file."""

    def load(found: Found) -> Classifier:
        return Classifier.load(found.path, settings.threads_per_worker)

    return Repository(
        Source(settings.model_repository),
        VersionPolicy.parse(settings.version_policy),
        ControlFile(settings.state_dir),
        load,
        lambda classifier: build_engine(classifier, settings, metrics),
        pinned_default=settings.default_version,
        poll_interval_s=settings.poll_interval_s,
        observer=metrics,
    )


async def start_grpc(serving: Serving, is_ready: Callable[[], bool]) -> "GrpcServer":
    # Imported here, only when serving gRPC: its generated modules define the protobuf symbols
    # of package `inference`, as tritonclient.grpc's do, and one process can hold only one.
    from app.grpc.server import GrpcServer

    server = GrpcServer(serving, is_ready)
    await server.start()
    return server


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; its model is loaded when the lifespan starts, not at import or creation."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models = build_repository(settings, app.state.metrics)
        await models.start()
        decoder = Decoder(settings.decode_threads, settings.max_image_pixels)
        app.state.serving = serving = Serving(settings, models, decoder, app.state.metrics)
        grpc_server = None
        if settings.grpc_port:
            grpc_server = await start_grpc(serving, lambda: not_ready(app.state) is None)
        # Start-up leaves tens of thousands of long-lived objects (FastAPI, pydantic, NumPy,
        # LiteRT): frozen, a full collection never walks them while requests wait.
        gc.collect()
        gc.freeze()
        app.state.ready = True
        logger.info(
            "serving versions %s of %s (policy %s, default %s)",
            models.versions,
            models.source.describe(),
            settings.version_policy,
            models.get().version,
        )
        try:
            yield
        finally:
            app.state.ready = False
            if grpc_server is not None:
                await grpc_server.stop()
            await models.stop()

    app = FastAPI(
        title="MNIST digit classifier",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else NO_TELEMETRY,
        docs_url=None,  # served by app.http.routes.ui from local assets, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.ready = False
    app.state.metrics = Metrics()
    register_error_handlers(app)
    app.include_router(predict.router)
    app.include_router(health.router)
    app.include_router(v2.router)
    app.include_router(repository.router)
    app.include_router(metrics.router)
    app.include_router(ui.router)
    app.mount(ui.STATIC_URL, ui.static_files(), name="static")
    check_direct_routes(app.routes)
    key = None
    if settings.api_key is not None:
        key = KeyCheck(settings.api_key.get_secret_value())
        document_api_key(app)
    cors = cors_options(settings.cors_origins)
    if cors is not None:  # inside the key check, which lets preflights (they carry no key) by
        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(
        ServiceMiddleware,
        metrics=app.state.metrics,
        limit=settings.max_upload_bytes,
        timeout_s=settings.body_timeout_s,
        key=key,
        cors=cors,
    )
    return app
