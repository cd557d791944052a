"""Request-scoped access to what the lifespan built: settings and the model repository.

They are `async def` so FastAPI calls them inline instead of in its thread pool.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.imaging.decoder import Decoder
from app.inference.repository import Repository
from app.settings import Settings


@dataclass(frozen=True)
class Serving:
    """What the lifespan built for serving, in `app.state.serving`. The predict routes read it
    there directly (app.http.routes.direct); other routes get its parts injected."""

    settings: Settings
    models: Repository
    decoder: Decoder


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_models(request: Request) -> Repository:
    return request.app.state.serving.models  # type: ignore[no-any-return]


async def get_decoder(request: Request) -> Decoder:
    return request.app.state.serving.decoder  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelsDep = Annotated[Repository, Depends(get_models)]
DecoderDep = Annotated[Decoder, Depends(get_decoder)]
