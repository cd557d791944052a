"""POST /predict and POST /predict/batch: images in, digit probabilities out."""

import base64
from collections.abc import Iterator

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from app.http.dependencies import Serving
from app.http.errors import INTERNAL_ERROR, PREDICT_ERRORS, image_error_status
from app.http.forms import FormError, FormPart, multipart_boundary, parse_multipart, query_flag
from app.http.routes.direct import DirectRoute
from app.http.schemas import (
    DIGIT_EXAMPLE,
    NOT_A_DIGIT_EXAMPLE,
    BatchItem,
    BatchPrediction,
    ItemError,
    ModelRef,
    Prediction,
)
from app.http.schemas import NotADigit as NotADigitAnswer
from app.imaging.decoder import Decoder
from app.imaging.errors import ImageError
from app.imaging.pipeline import PreparedImage
from app.imaging.pixels import encode_png
from app.inference.abstention import NotADigit
from app.inference.layout import version_number
from app.inference.model_file import ModelInfo
from app.inference.served import Served

# The hot paths: each endpoint reads its own request (app.http.forms) and finds what the lifespan
# built in app.state.serving (tests swap it there), so FastAPI resolves nothing per request.
router = APIRouter(tags=["prediction"], route_class=DirectRoute)

NORMALIZE_TEXT = (
    "Crop, centre and scale the digit the way MNIST was made (polarity, background, 20 px box, "
    "centre of mass). An MNIST-style 28x28 digit is used unchanged either way. Off: the image is "
    "only converted to gray and resized to 28x28."
)
INCLUDE_IMAGE_TEXT = "Also return the 28x28 image the model saw, as a base64 PNG."
VERSION_TEXT = (
    "The model version to answer (a served one: see GET /model); default: the default version."
)
IMAGE: dict[str, object] = {"type": "string", "contentMediaType": "application/octet-stream"}


def _flag_doc(name: str, default: bool, text: str) -> dict[str, object]:
    schema = {"type": "boolean", "default": default, "description": text}
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


VERSION_DOC: dict[str, object] = {
    "name": "version",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
    "description": VERSION_TEXT,
}


def request_doc(field: str, schema: dict[str, object]) -> dict[str, object]:
    """OpenAPI for a route that reads its own form (app.http.forms): query flags and one field."""
    form = {"type": "object", "required": [field], "properties": {field: schema}}
    return {
        "parameters": [
            _flag_doc("normalize", True, NORMALIZE_TEXT),
            _flag_doc("include_image", False, INCLUDE_IMAGE_TEXT),
            VERSION_DOC,
        ],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}},
    }


FILE_DOC: dict[str, object] = {
    **IMAGE,
    "description": "the image: PNG, JPEG, GIF, BMP, WebP or TIFF",
}
FILES_DOC: dict[str, object] = {
    "type": "array",
    "items": IMAGE,
    "description": "the images, in field `files`",
}


ANSWERS: dict[int | str, dict[str, object]] = {
    200: {
        "description": "a digit, or not a digit (`digit` null, `not_a_digit` says why)",
        "content": {
            "application/json": {
                "examples": {
                    "digit": {"summary": "a digit", "value": DIGIT_EXAMPLE},
                    "not_a_digit": {
                        "summary": "not a digit",
                        # FastAPI leaves every null out of the OpenAPI document
                        "description": "`digit` is null (`not_a_digit` is null for a digit)",
                        "value": NOT_A_DIGIT_EXAMPLE,
                    },
                }
            }
        },
    }
}


def to_prediction(
    probabilities: np.ndarray,
    info: ModelInfo,
    prepared: PreparedImage,
    include_image: bool,
    not_a_digit: NotADigit | None,
) -> Prediction:
    top = int(probabilities.argmax())
    image = base64.b64encode(encode_png(prepared.pixels)).decode() if include_image else None
    return Prediction(
        digit=None if not_a_digit else top,
        confidence=float(probabilities[top]),
        probabilities=probabilities.tolist(),
        not_a_digit=None
        if not_a_digit is None
        else NotADigitAnswer(reason=not_a_digit.reason, detail=not_a_digit.detail),
        normalized=prepared.normalized,
        model=ModelRef(name=info.name, version=info.version),
        image=image,
    )


def json_response(model: Prediction | BatchPrediction) -> Response:
    """Serialise with pydantic-core directly; the model was validated when it was built."""
    return Response(model.model_dump_json(), media_type="application/json")


@router.post(
    "/predict",
    summary="Classify one digit image",
    response_model=Prediction,
    responses={**ANSWERS, **PREDICT_ERRORS},
    openapi_extra=request_doc("file", FILE_DOC),
)
async def predict(request: Request) -> Response:
    serving: Serving = request.app.state.serving
    normalize, include_image = read_flags(request)
    with serving.models.lease(requested_version(request)) as served:
        parts = fields(await read_form(request, serving.decoder), "file")
        prepared = await serving.decoder.prepare(parts[0].data, normalize)
        probabilities = await served.engine.predict(prepared.vector()[np.newaxis])
    (verdict,) = serving.verdicts(served.info, probabilities, [prepared.refusal])
    result = to_prediction(probabilities[0], served.info, prepared, include_image, verdict)
    request.state.prediction = (result.digit, round(result.confidence, 4))
    return json_response(result)


def requested_version(request: Request) -> int | None:
    """`?version=N` (a positive integer), or None; FormError (422) for anything else."""
    if not request.scope["query_string"]:  # the common request: nothing to parse
        return None
    value = request.query_params.get("version")
    if not value:
        return None
    version = version_number(value)
    if version is None:
        raise FormError(f"query parameter `version` must be a positive integer, not {value[:40]!r}")
    return version


def read_flags(request: Request) -> tuple[bool, bool]:
    """(normalize, include_image) from the query string; FormError (422) for a bad value."""
    if not request.scope["query_string"]:
        return True, False
    params = request.query_params
    return query_flag(params, "normalize", True), query_flag(params, "include_image", False)


async def read_form(request: Request, decoder: Decoder) -> list[FormPart]:
    """The parts of the request's multipart body; FormError (422) if it is not one."""
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    return await decoder.parse(parse_multipart, await request.body(), boundary)


def fields(parts: list[FormPart], name: str) -> list[FormPart]:
    """The parts named `name`, in order; FormError (422) if there are none."""
    found = [part for part in parts if part.name == name]
    if not found:
        raise FormError(f"multipart form field `{name}` is missing; send the upload as `{name}`")
    return found


@router.post(
    "/predict/batch",
    summary="Classify several digit images in one call",
    response_model=BatchPrediction,
    responses=PREDICT_ERRORS,
    openapi_extra=request_doc("files", FILES_DOC),
)
async def predict_batch(request: Request) -> Response:
    serving: Serving = request.app.state.serving
    normalize, include_image = read_flags(request)
    with serving.models.lease(requested_version(request)) as served:
        return await _predict_batch(request, serving, served, normalize, include_image)


async def _predict_batch(
    request: Request, serving: Serving, served: Served, normalize: bool, include_image: bool
) -> Response:
    settings, info = serving.settings, served.info
    files = fields(await read_form(request, serving.decoder), "files")
    if len(files) > settings.max_batch_files:
        raise HTTPException(
            413, f"{len(files)} files in one batch; the limit is {settings.max_batch_files}"
        )
    payloads = [upload.data for upload in files]
    prepared = await serving.decoder.prepare_all(payloads, normalize)
    good = [item for item in prepared if isinstance(item, PreparedImage)]
    rows: Iterator[tuple[np.ndarray, NotADigit | None]] = iter(())
    if good:
        answers = await served.engine.predict(np.stack([item.vector() for item in good]))
        verdicts = serving.verdicts(info, answers, [item.refusal for item in good])
        rows = iter(zip(answers, verdicts, strict=True))
    results = []
    for index, (upload, item) in enumerate(zip(files, prepared, strict=True)):
        entry = BatchItem(index=index, filename=upload.filename)
        if isinstance(item, ImageError):
            entry.error = ItemError(status=image_error_status(item), detail=str(item))
        elif isinstance(item, Exception):  # a bug, logged by the decoder: this item's 500 only
            entry.error = ItemError(status=500, detail=INTERNAL_ERROR)
        else:
            probabilities, verdict = next(rows)
            entry.prediction = to_prediction(probabilities, info, item, include_image, verdict)
        results.append(entry)
    model = ModelRef(name=info.name, version=info.version)
    return json_response(BatchPrediction(model=model, results=results))
