"""The Open Inference Protocol (KServe V2) REST endpoints; errors come out as {"error": "..."}.

The body of an inference request is read and parsed here rather than by a pydantic model, so
that every rejection, even of malformed JSON, takes the protocol's error format.
"""

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from numpy.typing import NDArray

from app import __version__
from app.http.dependencies import ClassifierDep, DecoderDep, EngineDep, SettingsDep
from app.http.schemas import ProtocolErrorResponse
from app.imaging.decoder import Decoder, is_heavy
from app.inference.batching import Overloaded
from app.protocol import oip
from app.settings import Settings

router = APIRouter(prefix="/v2", tags=["open inference protocol (KServe V2)"])
VERSIONED = "/models/{model_name}/versions/{model_version}"


def _error(description: str) -> dict[str, Any]:
    return {"model": ProtocolErrorResponse, "description": description}


UNKNOWN_MODEL = _error("another model name or version than the one served")
MODEL_ERRORS: dict[int | str, dict[str, Any]] = {404: UNKNOWN_MODEL}
INFER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("malformed request: JSON, tensor names, shapes, datatypes, values or images"),
    404: UNKNOWN_MODEL,
    408: _error("the request body was not received in time"),
    413: _error("more rows than the batch limit, or a body over the upload limit"),
    415: _error("a compressed request body"),
    503: _error("inference queue full: retry after the `Retry-After` seconds"),
}
ModelName = Annotated[str, Path(examples=[oip.MODEL_NAME], description="the served model: mnist")]


async def served_version(request: Request, classifier: ClassifierDep, model_name: ModelName) -> str:
    """The served model's version; 404 for another model name or version in the path."""
    version = classifier.info.version
    oip.check_model(model_name, request.path_params.get("model_version"), version)
    return version


VersionDep = Annotated[str, Depends(served_version)]


def _ready(request: Request) -> bool:
    return bool(getattr(request.app.state, "ready", False))


@router.get("", summary="Server metadata: name, version, protocol extensions")
async def server_metadata() -> dict[str, Any]:
    return oip.server_metadata(__version__)


@router.get("/health/live", summary="Server liveness")
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get(
    "/health/ready",
    summary="Server readiness: 503 until the model is loaded",
    responses={503: {"description": "the model is not loaded yet"}},
)
async def server_ready(request: Request) -> JSONResponse:
    ready = _ready(request)
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get(
    "/models/{model_name}",
    summary="Model metadata: inputs, outputs, versions",
    responses=MODEL_ERRORS,
)
@router.get(VERSIONED, include_in_schema=False)
async def model_metadata(version: VersionDep) -> dict[str, Any]:
    return oip.model_metadata(version)


@router.get(
    "/models/{model_name}/ready",
    summary="Model readiness",
    responses={**MODEL_ERRORS, 503: {"description": "the model is not loaded yet"}},
)
@router.get(f"{VERSIONED}/ready", include_in_schema=False)
async def model_ready(request: Request, version: VersionDep) -> JSONResponse:
    ready = _ready(request)
    return JSONResponse({"name": oip.MODEL_NAME, "ready": ready}, status_code=200 if ready else 503)


async def _decode(
    decoder: Decoder, body: bytes, header_length: str | None, settings: Settings
) -> tuple[oip.InferRequest, NDArray[np.float32]]:
    """Parse on the decoder's threads; then the images, if any, in their decode lane."""
    parsed = await decoder.run(
        oip.parse_infer_request, body, header_length, settings.max_batch_files
    )
    if parsed.pixels is not None:
        return parsed, parsed.pixels
    heavy = any(is_heavy(image) for image in parsed.images)
    rows = await decoder.run(oip.request_rows, parsed, settings.max_image_pixels, heavy=heavy)
    return parsed, rows


@router.post(
    "/models/{model_name}/infer",
    summary="Inference: `pixels` (FP32) or `image` (BYTES) in, `probabilities` out",
    response_class=Response,
    responses=INFER_ERRORS,
)
@router.post(f"{VERSIONED}/infer", include_in_schema=False)
async def infer(
    request: Request,
    version: VersionDep,
    engine: EngineDep,
    decoder: DecoderDep,
    settings: SettingsDep,
) -> Response:
    if request.headers.get("content-encoding", "identity") != "identity":
        raise oip.ProtocolError("compressed request bodies are not supported", 415)
    body = await request.body()
    header_length = request.headers.get(oip.HEADER_LENGTH)
    parsed, rows = await _decode(decoder, body, header_length, settings)
    try:
        probabilities = await engine.predict(rows)
    except Overloaded as exc:
        raise oip.ProtocolError(str(exc), 503, {"Retry-After": str(exc.retry_after)}) from None
    content, json_length = oip.build_infer_response(parsed, probabilities, version)
    if json_length is None:
        return Response(content, media_type="application/json")
    headers = {oip.HEADER_LENGTH: str(json_length)}
    return Response(content, media_type="application/octet-stream", headers=headers)
