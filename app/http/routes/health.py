"""Liveness, readiness and model metadata."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.http.dependencies import ClassifierDep
from app.http.schemas import ErrorResponse, Health, ModelMetadata

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the model is loaded and warmed",
    response_model=Health,
    responses={503: {"model": ErrorResponse, "description": "model not loaded yet"}},
)
async def readyz(request: Request) -> Health | JSONResponse:
    if not getattr(request.app.state, "ready", False):
        return JSONResponse({"detail": "model not loaded yet"}, status_code=503)
    return Health(status="ready")


@router.get("/model", summary="What model is served", response_model=ModelMetadata)
async def model_metadata(request: Request, classifier: ClassifierDep) -> ModelMetadata:
    info = classifier.info
    return ModelMetadata(
        name=info.name,
        version=info.version,
        file=info.path.name,
        sha256=info.sha256,
        input_shape=[None, 784],
        classes=list(range(10)),
        test_accuracy=info.test_accuracy,
        created=info.created,
        loaded_at=request.app.state.loaded_at,
        card=info.card or None,
    )
