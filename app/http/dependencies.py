"""Request-scoped access to what the lifespan built: settings, classifier, batching engine.

They are `async def` so FastAPI calls them inline instead of in its thread pool.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.imaging.decoder import Decoder
from app.inference.batching import BatchingEngine
from app.inference.classifier import Classifier
from app.settings import Settings


@dataclass(frozen=True)
class Serving:
    """What the lifespan built for serving, in `app.state.serving`. The predict routes read it
    there directly (app.http.routes.direct); other routes get its parts injected."""

    settings: Settings
    classifier: Classifier
    engine: BatchingEngine
    decoder: Decoder


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_classifier(request: Request) -> Classifier:
    return request.app.state.serving.classifier  # type: ignore[no-any-return]


async def get_engine(request: Request) -> BatchingEngine:
    return request.app.state.serving.engine  # type: ignore[no-any-return]


async def get_decoder(request: Request) -> Decoder:
    return request.app.state.serving.decoder  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
EngineDep = Annotated[BatchingEngine, Depends(get_engine)]
DecoderDep = Annotated[Decoder, Depends(get_decoder)]
