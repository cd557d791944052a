"""The Open Inference Protocol (KServe V2) REST endpoints; errors come out as {"error": "..."}.

The body of an inference request is read and parsed here rather than by a pydantic model, so
that every rejection, even of malformed JSON, takes the protocol's error format.
"""

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from numpy.typing import NDArray

from app import __version__
from app.http.dependencies import (
    DecoderDep,
    ModelName,
    ModelsDep,
    Serving,
    SettingsDep,
    not_ready,
)
from app.http.errors import error_doc
from app.imaging.decoder import Decoder
from app.inference.layout import version_number
from app.inference.served import VersionNotFound
from app.protocol import oip
from app.settings import Settings

router = APIRouter(prefix="/v2", tags=["open inference protocol (KServe V2)"])
VERSIONED = "/models/{model_name}/versions/{model_version}"


UNKNOWN_MODEL = error_doc(
    "another model name, or a version not served (the message lists them)", protocol=True
)
MODEL_ERRORS: dict[int | str, dict[str, Any]] = {404: UNKNOWN_MODEL}
INFER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc(
        "malformed request: JSON, tensor names, shapes, datatypes, values or images", protocol=True
    ),
    404: UNKNOWN_MODEL,
    408: error_doc("the request body was not received in time", protocol=True),
    413: error_doc(
        "more rows than the batch limit, or a body over the upload limit", protocol=True
    ),
    415: error_doc("a compressed request body", protocol=True),
    503: error_doc("inference queue full: retry after the `Retry-After` seconds", protocol=True),
}


async def requested_version(
    request: Request, models: ModelsDep, model_name: ModelName
) -> int | None:
    """The version in the path (None: the default); 404 for another model or a version not
    served, naming the versions that are."""
    oip.check_model(model_name, None, "")
    text = request.path_params.get("model_version")
    if text is None:
        return None
    version = version_number(text)
    if version not in models.versions:
        raise VersionNotFound(text[:40], models.versions)
    return version


VersionDep = Annotated[int | None, Depends(requested_version)]


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
    ready = not_ready(request.app.state) is None
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get(
    "/models/{model_name}",
    summary="Model metadata: inputs, outputs, versions",
    responses=MODEL_ERRORS,
)
@router.get(VERSIONED, include_in_schema=False)
async def model_metadata(
    version: VersionDep, models: ModelsDep, settings: SettingsDep
) -> dict[str, Any]:
    served = models.get(version)
    abstains = settings.effective_threshold(served.info.abstention_threshold) is not None
    metadata = oip.model_metadata(str(served.version), abstains)
    if version is None:  # the model: every version served, the default first
        default = models.get().version
        others = [v for v in reversed(models.versions) if v != default]
        metadata["versions"] = [str(v) for v in [default, *others]]
    return metadata


@router.get(
    "/models/{model_name}/ready",
    summary="Model readiness",
    responses={**MODEL_ERRORS, 503: {"description": "the model is not loaded yet"}},
)
@router.get(f"{VERSIONED}/ready", include_in_schema=False)
async def model_ready(request: Request, version: VersionDep, models: ModelsDep) -> JSONResponse:
    ready = not_ready(request.app.state) is None and (version is None or version in models.versions)
    return JSONResponse({"name": oip.MODEL_NAME, "ready": ready}, status_code=200 if ready else 503)


async def _decode(
    decoder: Decoder, body: bytes, header_length: str | None, settings: Settings, abstains: bool
) -> tuple[oip.InferRequest, NDArray[np.float32], list[str | None]]:
    """The request, its rows and each row's refusal by the image pipeline; the decoder decides
    where the body is parsed and the images decoded."""
    parsed = await decoder.parse(
        oip.parse_infer_request, body, header_length, settings.max_batch_files, abstains
    )
    if parsed.pixels is not None:
        return parsed, *oip.request_rows(parsed, settings.max_image_pixels)
    rows, refusals = await decoder.run_images(
        parsed.images, oip.request_rows, parsed, settings.max_image_pixels
    )
    return parsed, rows, refusals


@router.post(
    "/models/{model_name}/infer",
    summary="Inference: `pixels` (FP32) or `image` (BYTES) in, `probabilities` out (and "
    "`not_a_digit`, `not_a_digit_reason` from a version with an abstention threshold)",
    response_class=Response,
    responses=INFER_ERRORS,
)
@router.post(f"{VERSIONED}/infer", include_in_schema=False)
async def infer(
    request: Request,
    version: VersionDep,
    models: ModelsDep,
    decoder: DecoderDep,
    settings: SettingsDep,
) -> Response:
    if request.headers.get("content-encoding", "identity") != "identity":
        raise oip.ProtocolError("compressed request bodies are not supported", 415)
    serving: Serving = request.app.state.serving
    with models.lease(version) as served:
        abstains = serving.threshold(served.info) is not None
        body = await request.body()
        header_length = request.headers.get(oip.HEADER_LENGTH)
        parsed, rows, refusals = await _decode(decoder, body, header_length, settings, abstains)
        probabilities = await served.engine.predict(rows)
    verdicts = serving.verdicts(served.info, probabilities, refusals)
    content, json_length = oip.build_infer_response(
        parsed, probabilities, str(served.version), verdicts if abstains else None
    )
    if json_length is None:
        return Response(content, media_type="application/json")
    headers = {oip.HEADER_LENGTH: str(json_length)}
    return Response(content, media_type="application/octet-stream", headers=headers)
