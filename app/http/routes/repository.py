"""The model repository API of Triton and MLServer: index, load, unload; errors as {"error"}.

Load and unload act at once in the worker that receives them, and reach every other worker
through the repository's control file at its next poll.
"""

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from app.http.dependencies import ModelName, ModelsDep
from app.http.errors import error_doc
from app.inference.layout import version_number
from app.inference.plan import State
from app.protocol import oip

router = APIRouter(prefix="/v2/repository", tags=["model repository"])
VERSION_BODY = {"parameters": {"version": "2"}}


class IndexEntry(BaseModel):
    name: str = Field(examples=[oip.MODEL_NAME])
    version: str = Field(examples=["2"])
    state: State = Field(examples=[State.READY])
    reason: str = Field("", examples=[""], description="why the version is in this state")


UNREADABLE = error_doc(
    "the repository's folder cannot be read (what is served stays served)", protocol=True
)


def _body_doc(text: str) -> dict[str, Any]:
    schema = {"type": "object", "description": text, "example": VERSION_BODY}
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema}}}}


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the body ({} when empty); ProtocolError (400) for anything else."""
    body = await request.body()
    try:
        document = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise oip.ProtocolError(f"the request is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise oip.ProtocolError("the request must be a JSON object")
    return document


async def version_parameter(request: Request, model_name: str) -> int | None:
    """`parameters.version` of a load/unload request (None: the model as a whole)."""
    oip.check_model(model_name, None, "")
    parameters = (await read_json(request)).get("parameters", {})
    version = parameters.get("version") if isinstance(parameters, dict) else None
    if version is None:
        return None
    number = version_number(version)
    if number is None:
        shown = repr(version)[:40]
        raise oip.ProtocolError(f"parameters.version must be a positive integer, not {shown}")
    return number


@router.post(
    "/index",
    summary="Every version in the repository, with its state (READY, LOADING, UNAVAILABLE)",
    response_model=list[IndexEntry],
    responses={400: error_doc("malformed request", protocol=True), 503: UNREADABLE},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object", "example": {}}}},
        }
    },
)
async def index(request: Request, models: ModelsDep) -> list[IndexEntry]:
    ready_only = (await read_json(request)).get("ready") is True
    entries = [
        IndexEntry(name=oip.MODEL_NAME, version=str(e.version), state=e.state, reason=e.reason)
        for e in models.index()
    ]
    return [e for e in entries if e.state == State.READY] if ready_only else entries


@router.post(
    "/models/{model_name}/load",
    summary="Load (or reload) the model, or with `parameters.version` one version of it",
    response_class=Response,
    responses={
        200: {"description": "served (empty body)"},
        400: error_doc(
            "malformed request, or the version failed to load: the reason", protocol=True
        ),
        404: error_doc("unknown model or version", protocol=True),
        503: UNREADABLE,
    },
    openapi_extra=_body_doc(
        "Without a version: re-read the repository, retry versions that failed, undo unloads. "
        "With one: serve it besides those the version policy selects."
    ),
)
async def load(request: Request, models: ModelsDep, model_name: ModelName) -> Response:
    await models.request_load(await version_parameter(request, model_name))
    return Response(status_code=200)


@router.post(
    "/models/{model_name}/unload",
    summary="Unload the model's versions, or with `parameters.version` one version",
    response_class=Response,
    responses={
        200: {"description": "unloaded (empty body)"},
        400: error_doc("malformed request", protocol=True),
        404: error_doc("unknown model or version", protocol=True),
        503: UNREADABLE,
    },
    openapi_extra=_body_doc(
        "Stops serving the version (without one: every version) once its requests in flight "
        "are answered, until a load request for it."
    ),
)
async def unload(request: Request, models: ModelsDep, model_name: ModelName) -> Response:
    await models.request_unload(await version_parameter(request, model_name))
    return Response(status_code=200)
