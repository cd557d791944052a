"""Two versions served side by side over HTTP, with the real model and a variant of it that
answers differently: each route answers with the version asked for, and says which."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support.loadgen import DIGIT_28, v2_pixels
from tests.support.versions import SHIPPED_VERSION, copy_version, shifted_version

UPLOAD = {"files": {"file": ("d.png", DIGIT_28, "image/png")}}
LONG = "9" * 5000  # past Python's int-from-text limit (4,300 digits)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1: the shipped model; version 2: the same with its answers rolled by one."""
    root = tmp_path_factory.mktemp("repository")
    copy_version(SHIPPED_VERSION, root, 1)
    shifted_version(root / "mnist" / "2")
    return root


@pytest.fixture(scope="module")
def client(repository: Path) -> Iterator[TestClient]:
    settings = Settings(model_repository=repository, version_policy="all", poll_interval_s=0.2)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def predict(client: TestClient, query: str = "") -> dict:
    response = client.post(f"/predict{query}", **UPLOAD)
    assert response.status_code == 200, response.text
    return response.json()


def test_predict_versions_give_their_own_answers(client: TestClient) -> None:
    one, two = predict(client, "?version=1"), predict(client, "?version=2")
    assert (one["model"]["version"], two["model"]["version"]) == ("1", "2")
    assert two["digit"] == (one["digit"] + 1) % 10


def test_predict_without_version_uses_the_newest(client: TestClient) -> None:
    assert predict(client)["model"]["version"] == "2"


def test_batch_names_its_version(client: TestClient) -> None:
    files = [("files", ("d.png", DIGIT_28, "image/png"))] * 2
    one = client.post("/predict/batch?version=1", files=files).json()
    two = client.post("/predict/batch?version=2", files=files).json()
    assert (one["model"]["version"], two["model"]["version"]) == ("1", "2")
    digits = [r["prediction"]["digit"] for r in one["results"] + two["results"]]
    assert digits[2] == (digits[0] + 1) % 10


def test_v2_versions_give_their_own_answers(client: TestClient) -> None:
    answers = {}
    for version in ("1", "2"):
        response = client.post(f"/v2/models/mnist/versions/{version}/infer", json=v2_pixels(1))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == version
        answers[version] = max(range(10), key=body["outputs"][0]["data"].__getitem__)
    assert answers["2"] == (answers["1"] + 1) % 10


def test_metadata_lists_the_versions_and_the_default(client: TestClient) -> None:
    model = client.get("/model").json()
    assert (model["versions"], model["default_version"], model["version"]) == (["1", "2"], "2", "2")
    assert client.get("/model?version=1").json()["version"] == "1"
    assert client.get("/v2/models/mnist").json()["versions"] == ["2", "1"]
    assert client.get("/v2/models/mnist/versions/1").json()["versions"] == ["1"]
    index = client.post("/v2/repository/index").json()
    assert [(e["version"], e["state"]) for e in index] == [("2", "READY"), ("1", "READY")]


@pytest.mark.parametrize(
    ("method", "path", "status", "key"),
    [
        ("POST", "/predict?version=7", 404, "detail"),
        ("POST", "/predict/batch?version=7", 404, "detail"),
        ("GET", "/model?version=7", 404, "detail"),
        ("GET", "/v2/models/mnist/versions/7", 404, "error"),
        ("GET", "/v2/models/mnist/versions/7/ready", 404, "error"),
        ("POST", "/v2/models/mnist/versions/7/infer", 404, "error"),
        ("POST", "/v2/models/mnist/versions/x/infer", 404, "error"),
        ("POST", f"/v2/models/mnist/versions/{LONG}/infer", 404, "error"),  # was a 500
        ("GET", "/v2/models/mnist/versions/\u00b2", 404, "error"),  # "²".isdigit(): was a 500
    ],
)
def test_unserved_version_is_404_naming_the_served(
    client: TestClient, method: str, path: str, status: int, key: str
) -> None:
    response = client.request(method, path, **UPLOAD)
    assert response.status_code == status
    assert "available versions: 1, 2" in response.json()[key]


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", LONG, "\u00b2", "\u0661"])
def test_bad_version_query_is_422(client: TestClient, value: str) -> None:
    response = client.post(f"/predict?version={value}", **UPLOAD)
    assert response.status_code == 422
    assert "version" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v2/repository/models/cifar/load", {}, 404, "unknown model"),
        ("/v2/repository/models/mnist/load", {"parameters": {"version": 9}}, 404, "version 9"),
        ("/v2/repository/models/mnist/load", {"parameters": {"version": "x"}}, 400, "positive"),
        ("/v2/repository/models/mnist/load", {"parameters": {"version": LONG}}, 400, "positive"),
        (
            "/v2/repository/models/mnist/unload",
            {"parameters": {"version": "\u00b2"}},
            400,
            "positive",
        ),
        ("/v2/repository/models/mnist/unload", {"parameters": {"version": 9}}, 404, "version 9"),
        ("/v2/repository/index", [], 400, "JSON object"),
    ],
)
def test_repository_api_errors(
    client: TestClient, path: str, body: object, status: int, words: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_predictions_are_counted_by_version(client: TestClient) -> None:
    predict(client, "?version=1")
    scrape = client.get("/metrics").text
    assert any(
        line.startswith("mnist_predictions_total") and 'version="1"' in line
        for line in scrape.splitlines()
    )
    assert "mnist_model_versions_loaded 2.0" in scrape


def test_repository_api_needs_the_key(repository: Path) -> None:
    settings = Settings(model_repository=repository, api_key="secret")
    app = create_app(settings)  # the key check answers before the lifespan matters
    response = TestClient(app).post("/v2/repository/index")
    assert response.status_code == 401
