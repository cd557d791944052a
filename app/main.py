"""Assemble the FastAPI app: settings, lifespan (load + warm the model once), routers, handlers."""

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from app import __version__
from app.http.dependencies import Serving
from app.http.errors import register_error_handlers
from app.http.middleware import QuietStartupFailure, RequestBodyGuard, RequestTelemetry
from app.http.routes import health, metrics, predict, ui, v2
from app.http.routes.direct import check_direct_routes
from app.http.security import ApiKeyAuth, add_cors, document_api_key
from app.imaging.decoder import Decoder
from app.inference.batching import BatchingEngine
from app.inference.classifier import Classifier, configure_threads
from app.logs import configure_logging
from app.metrics import Metrics
from app.settings import Settings, env_name

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
    return BatchingEngine(
        metrics.counting_predictions(classifier.predict) if metrics else classifier.predict,
        max_queue=settings.queue_max_rows,
        observe=metrics.observe_batch if metrics else None,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; its model is loaded when the lifespan starts, not at import or creation."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_threads(settings.threads_per_worker)
        started = time.perf_counter()
        classifier = Classifier.load(
            settings.model_path,
            env_name("model_path"),
            settings.inference_runtime,
            settings.threads_per_worker,
        )
        app.state.metrics.model_loaded_now(classifier.info, time.perf_counter() - started)
        engine = build_engine(classifier, settings, app.state.metrics)
        engine.start()
        decoder = Decoder(settings.decode_threads, settings.max_image_pixels)
        app.state.serving = Serving(settings, classifier, engine, decoder)
        app.state.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        # TensorFlow and Keras leave hundreds of thousands of objects behind; a full collection
        # over them stalls every request in flight (README, Performance). Freeze them out of reach.
        gc.collect()
        gc.freeze()
        app.state.ready = True
        logger.info(
            "serving %s v%s from %s",
            classifier.info.name,
            classifier.info.version,
            settings.model_path,
        )
        try:
            yield
        finally:
            app.state.ready = False
            await engine.stop()

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
    app.include_router(metrics.router)
    app.include_router(ui.router)
    app.mount(ui.STATIC_URL, ui.static_files(), name="static")
    check_direct_routes(app.routes)
    app.add_middleware(
        RequestBodyGuard, limit=settings.max_upload_bytes, timeout_s=settings.body_timeout_s
    )
    if settings.api_key is not None:
        app.add_middleware(ApiKeyAuth, key=settings.api_key.get_secret_value())
        document_api_key(app)
    add_cors(app, settings.cors_origins)  # outside the key check: preflights carry no key
    app.add_middleware(QuietStartupFailure)
    # Outermost: logs and counts every status, the guard's 413/408 and CORS refusals included.
    app.add_middleware(RequestTelemetry, metrics=app.state.metrics)
    return app
