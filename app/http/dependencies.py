"""Request-scoped access to what the lifespan built: settings and the model repository.

They are `async def` so FastAPI calls them inline instead of in its thread pool.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import Depends, Path, Request
from numpy.typing import NDArray
from starlette.datastructures import State

from app.imaging.decoder import Decoder
from app.inference.abstention import NotADigit, verdict
from app.inference.layout import MODEL_NAME
from app.inference.model_file import ModelInfo
from app.inference.repository import Repository
from app.metrics import Metrics
from app.settings import Settings


@dataclass(frozen=True)
class Serving:
    """What the lifespan built for serving, in `app.state.serving`. The predict routes read it
    there directly (app.http.routes.direct); other routes get its parts injected."""

    settings: Settings
    models: Repository
    decoder: Decoder
    metrics: Metrics | None = None

    def threshold(self, info: ModelInfo) -> float | None:
        """The abstention threshold `info`'s version answers with (None: it never abstains)."""
        return self.settings.effective_threshold(info.abstention_threshold)

    def verdicts(
        self,
        info: ModelInfo,
        probabilities: NDArray[np.float32],
        refusals: Sequence[str | None],
    ) -> list[NotADigit | None]:
        """Per row of probabilities (N, 10) and the image pipeline's refusal of that row: a
        digit (None) or not a digit, counted in the metrics."""
        threshold = self.threshold(info)
        rows = zip(probabilities, refusals, strict=True)
        verdicts = [verdict(row, refusal, threshold) for row, refusal in rows]
        if self.metrics is not None:
            self.metrics.count_not_a_digit(info.version, verdicts)
        return verdicts


def not_ready(state: State) -> str | None:
    """Why the app is not ready to serve (None: it is): the lifespan has not finished starting,
    or no version is served (every one was unloaded). /readyz and /v2 readiness both ask this."""
    serving = getattr(state, "serving", None)
    if not getattr(state, "ready", False) or serving is None:
        return "model not loaded yet"
    if serving.models.default is None:
        return "no model version is served"
    return None


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_models(request: Request) -> Repository:
    return request.app.state.serving.models  # type: ignore[no-any-return]


async def get_decoder(request: Request) -> Decoder:
    return request.app.state.serving.decoder  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelName = Annotated[
    str, Path(examples=[MODEL_NAME], description=f"the served model: {MODEL_NAME}")
]
ModelsDep = Annotated[Repository, Depends(get_models)]
DecoderDep = Annotated[Decoder, Depends(get_decoder)]
