"""Liveness, readiness, model metadata and the self-description of the API."""

import hashlib
import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.http.schemas import ModelMetadata
from app.inference.model_file import card_path
from tests.support import SHIPPED_MODEL

CARD = json.loads(card_path(SHIPPED_MODEL).read_text())
PREDICT_ERRORS = {"400", "413", "415", "422", "503"}
# The routes the service was specified with; other routes may be documented beside them.
ROUTES = {
    ("/predict", "POST"),
    ("/predict/batch", "POST"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/model", "GET"),
}


@pytest.fixture(scope="module")
def metadata(client: TestClient) -> dict[str, Any]:
    response = client.get("/model")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` into components."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_healthz_answers_before_the_model_is_loaded(unstarted_client: TestClient) -> None:
    assert unstarted_client.get("/healthz").status_code == 200


def test_readyz_is_200_once_loaded(client: TestClient) -> None:
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_readyz_is_503_before_the_lifespan_ran(unstarted_client: TestClient) -> None:
    response = unstarted_client.get("/readyz")
    assert response.status_code == 503
    assert "not loaded" in response.json()["detail"]


def test_model_matches_schema(metadata: dict[str, Any]) -> None:
    ModelMetadata.model_validate(metadata)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("name", CARD["name"]),
        ("version", CARD["version"]),
        ("file", SHIPPED_MODEL.name),
        ("input_shape", [None, 784]),
        ("classes", list(range(10))),
        ("test_accuracy", CARD["test"]["accuracy"]),
        ("created", CARD["created"]),
    ],
)
def test_model_field_matches_card(metadata: dict[str, Any], field: str, expected: object) -> None:
    assert metadata[field] == expected


def test_model_sha256_is_the_file_digest(metadata: dict[str, Any]) -> None:
    assert metadata["sha256"] == hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()


def test_model_loaded_at_is_an_iso_time(metadata: dict[str, Any]) -> None:
    assert datetime.fromisoformat(metadata["loaded_at"]).tzinfo is not None


@pytest.mark.parametrize(("path", "marker"), [("/docs", "swagger-ui"), ("/redoc", "redoc")])
def test_docs_page_serves_html(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text
    assert "/openapi.json" in response.text


def test_openapi_lists_every_route(openapi: dict[str, Any]) -> None:
    documented = {(path, method.upper()) for path, method, _ in operations(openapi)}
    assert documented >= ROUTES


@pytest.mark.parametrize(("path", "method"), sorted(ROUTES))
def test_openapi_route_has_a_response_model(
    openapi: dict[str, Any], path: str, method: str
) -> None:
    op = openapi["paths"][path][method.lower()]
    assert "$ref" in op["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(("path", "method"), sorted(ROUTES))
def test_openapi_route_has_a_summary(openapi: dict[str, Any], path: str, method: str) -> None:
    assert openapi["paths"][path][method.lower()]["summary"]


@pytest.mark.parametrize(
    ("path", "statuses"),
    [("/predict", PREDICT_ERRORS), ("/predict/batch", PREDICT_ERRORS), ("/readyz", {"503"})],
)
def test_openapi_documents_error_responses(
    openapi: dict[str, Any], path: str, statuses: set[str]
) -> None:
    (op,) = openapi["paths"][path].values()
    assert statuses <= set(op["responses"])
    for status in statuses:
        response = op["responses"][status]
        assert response["description"]
        schema = resolve(openapi, response["content"]["application/json"]["schema"])
        assert schema["properties"]["detail"]["type"] == "string"


@pytest.mark.parametrize(("path", "field"), [("/predict", "file"), ("/predict/batch", "files")])
def test_openapi_request_body_is_multipart_upload(
    openapi: dict[str, Any], path: str, field: str
) -> None:
    body = openapi["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    schema = resolve(openapi, body["content"]["multipart/form-data"]["schema"])
    assert field in schema["required"]
    prop = schema["properties"][field]
    upload = prop["items"] if prop.get("type") == "array" else prop
    assert upload["type"] == "string"
    # OpenAPI 3.1 spells a binary upload `contentMediaType`; 3.0 spelled it `format: binary`.
    assert (
        upload.get("contentMediaType") == "application/octet-stream"
        or upload.get("format") == "binary"
    )
