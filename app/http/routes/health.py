"""Liveness, readiness and model metadata."""

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.http.dependencies import ModelsDep, SettingsDep, not_ready
from app.http.errors import error_response
from app.http.schemas import ErrorResponse, Health, ModelMetadata

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: a model version is loaded and warmed",
    response_model=Health,
    responses={503: {"model": ErrorResponse, "description": "no model version served"}},
)
async def readyz(request: Request) -> Health | JSONResponse:
    reason = not_ready(request.app.state)
    if reason is not None:
        return error_response(request, reason, 503)
    return Health(status="ready")


@router.get(
    "/model",
    summary="What model is served: the default version (or `?version=N`), and every version",
    response_model=ModelMetadata,
    responses={
        404: {"model": ErrorResponse, "description": "no such version is served"},
        422: {"model": ErrorResponse, "description": "`version` is not a positive integer"},
    },
)
async def model_metadata(
    models: ModelsDep,
    settings: SettingsDep,
    version: int | None = Query(None, ge=1, description="a served version; default: the default"),
) -> ModelMetadata:
    served = models.get(version)
    info = served.info
    return ModelMetadata(
        name=info.name,
        version=info.version,
        file=info.path.name,
        sha256=info.sha256,
        input_shape=[None, 784],
        classes=list(range(10)),
        test_accuracy=info.test_accuracy,
        created=info.created,
        loaded_at=served.loaded_at,
        abstention_threshold=settings.effective_threshold(info.abstention_threshold),
        card=info.card or None,
        versions=[str(v) for v in models.versions],
        default_version=str(models.get().version),
    )
