"""Stand-ins for what the lifespan builds, for tests about HTTP rather than the model."""

from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI

from app.http.dependencies import Serving
from app.imaging.decoder import Decoder
from app.inference.model_file import ModelInfo
from app.inference.served import Served


def serving_with_engine(app: FastAPI, engine: Any) -> Serving:
    """A Serving whose one version (1) answers through `engine` (anything with `predict`)."""
    settings = app.state.settings
    info = ModelInfo("fake", "1", Path("fake.keras"), "0" * 64)
    served = Served(1, SimpleNamespace(info=info), engine, None)  # type: ignore[arg-type]
    models = SimpleNamespace(
        lease=lambda version=None: nullcontext(served),
        get=lambda version=None: served,
        versions=[1],
        default=served,
    )
    decoder = Decoder(1, settings.max_image_pixels)
    return Serving(settings, models, decoder)  # type: ignore[arg-type]
