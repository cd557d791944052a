"""Security: the optional API key, error bodies that reveal nothing, CORS closed unless asked,
upload names never used as paths, the page's headers, and a non-root container."""

import importlib.metadata
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.http.security import KEY_HEADER
from app.main import create_app
from app.settings import Settings
from tests.support import REPOSITORY, ROOT
from tests.support.fakes import serving_with_engine
from tests.support.fuzz_corpus import digit, encode

KEY = "k3y-for-tests-0123456789"
DIGIT = encode(digit(28), "PNG")
UPLOAD = {"files": {"file": ("d.png", DIGIT, "image/png")}}

# (method, path, request arguments) of every route that needs the key once one is set
PROTECTED: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/predict", UPLOAD),
    ("POST", "/predict/batch", {"files": [("files", ("d.png", DIGIT, "image/png"))]}),
    ("GET", "/model", {}),
    ("GET", "/metrics", {}),
    ("GET", "/v2", {}),
    ("GET", "/v2/models/mnist", {}),
    ("GET", "/v2/models/mnist/ready", {}),
    ("POST", "/v2/models/mnist/infer", {"json": {"inputs": []}}),
]
PUBLIC = [
    "/healthz",
    "/readyz",
    "/v2/health/live",
    "/v2/health/ready",
    "/",
    "/static/app.js",
    "/docs",
    "/openapi.json",
]


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    """The app with an API key set, lifespan run."""
    settings = Settings(model_repository=REPOSITORY, api_key=KEY)
    with TestClient(create_app(settings)) as client:
        yield client


def call(client: TestClient, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.request(method, path, headers=headers, **kwargs)


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED, ids=[p for _, p, _ in PROTECTED])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {KEY_HEADER: "wrong"},
        {"Authorization": f"Basic {KEY}"},
    ],
    ids=["none", "wrong-bearer", "wrong-x-api-key", "basic-scheme"],
)
def test_api_key_refused_is_401_json_with_challenge(
    keyed: TestClient, method: str, path: str, kwargs: dict[str, Any], headers: dict[str, str]
) -> None:
    response = call(keyed, method, path, headers, **kwargs)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in response.json()["error" if path.startswith("/v2") else "detail"]


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED, ids=[p for _, p, _ in PROTECTED])
@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}, {KEY_HEADER: KEY}],
    ids=["bearer", "bearer-lowercase", "x-api-key"],
)
def test_api_key_accepted_in_either_header(
    keyed: TestClient, method: str, path: str, kwargs: dict[str, Any], headers: dict[str, str]
) -> None:
    response = call(keyed, method, path, headers, **kwargs)
    assert response.status_code != 401
    assert response.status_code < 500


@pytest.mark.parametrize("path", PUBLIC)
def test_api_key_not_needed_for_health_page_and_docs(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


# Issue 15, finding 7: behind a proxy prefix (uvicorn --root-path) the path the key check saw
# began with the prefix, so the probes, the page and the docs answered 401. The proxy strips
# the prefix and uvicorn puts it back in front of `path` (root_path "/mnist", path
# "/mnist/healthz"): the scope TestClient builds for "/mnist/healthz" with this root_path.
@pytest.fixture(scope="module")
def keyed_under_prefix() -> Iterator[TestClient]:
    settings = Settings(model_repository=REPOSITORY, api_key=KEY)
    with TestClient(create_app(settings), root_path="/mnist") as client:
        yield client


@pytest.mark.parametrize("path", PUBLIC)
def test_api_key_not_needed_for_public_paths_under_a_root_path(
    keyed_under_prefix: TestClient, path: str
) -> None:
    assert keyed_under_prefix.get("/mnist" + path).status_code == 200


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED, ids=[p for _, p, _ in PROTECTED])
def test_api_key_still_needed_under_a_root_path(
    keyed_under_prefix: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = call(keyed_under_prefix, method, "/mnist" + path, {}, **kwargs)
    assert response.status_code == 401
    assert "API key" in response.json()["error" if path.startswith("/v2") else "detail"]
    assert (
        call(keyed_under_prefix, method, "/mnist" + path, {KEY_HEADER: KEY}, **kwargs).status_code
        < 500
    )


@pytest.mark.parametrize(
    "path", ["/mnist/healthzz", "/mnistx/healthz", "/healthz/../model", "/mnist/static/../model"]
)
def test_root_path_lookalikes_are_not_public(keyed_under_prefix: TestClient, path: str) -> None:
    assert keyed_under_prefix.get(path).status_code in (401, 404)


# Issue 15, finding 8: OPTIONS skipped the key check (405 + Allow revealed each route's
# methods), and of two X-API-Key headers the last one counted.
@pytest.mark.parametrize("path", ["/predict", "/model", "/v2/models/mnist/infer", "/predict/"])
def test_options_needs_the_key(keyed: TestClient, path: str) -> None:
    refused = keyed.options(path)
    assert refused.status_code == 401
    assert "allow" not in refused.headers
    assert keyed.options(path, headers={KEY_HEADER: KEY}).status_code in (200, 307, 405)


@pytest.mark.parametrize(
    "headers",
    [
        [(KEY_HEADER, "wrong"), (KEY_HEADER, KEY)],
        [(KEY_HEADER, KEY), (KEY_HEADER, KEY)],
        [("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {KEY}")],
    ],
    ids=["wrong-then-right", "right-twice", "two-bearers"],
)
def test_api_key_sent_twice_is_400(keyed: TestClient, headers: list[tuple[str, str]]) -> None:
    response = keyed.get("/model", headers=headers)
    assert response.status_code == 400
    assert "more than once" in response.json()["detail"]
    v2 = keyed.get("/v2/models/mnist", headers=headers)
    assert (v2.status_code, "more than once" in v2.json()["error"]) == (400, True)


def test_api_key_is_never_logged(keyed: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    keyed.get("/model", headers={"Authorization": "Bearer not-the-k3y-but-secret"})
    keyed.get("/model", headers={KEY_HEADER: KEY})
    logged = [f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records]
    assert any("API key wrong" in line for line in logged)
    assert not [line for line in logged if "not-the-k3y-but-secret" in line or KEY in line]


def test_api_key_hidden_in_settings_repr() -> None:
    assert KEY not in repr(Settings(api_key=KEY))


def test_api_key_empty_means_off() -> None:
    assert Settings(api_key="").api_key is None


def test_api_key_documented_in_openapi(keyed: TestClient) -> None:
    schema = keyed.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    predict = schema["paths"]["/predict"]["post"]
    assert "401" in predict["responses"]
    assert predict["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_api_key_off_by_default(client: TestClient) -> None:
    assert client.get("/model").status_code == 200
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


# --- what error bodies reveal ---------------------------------------------------------------

LIBRARIES = ("numpy", "pillow", "tensorflow-cpu", "keras", "fastapi", "starlette", "uvicorn")
VERSIONS = [importlib.metadata.version(name) for name in LIBRARIES]
VERSIONS.append(".".join(map(str, sys.version_info[:3])))
LEAKS = ["Traceback", 'File "', "site-packages", ".py", str(ROOT), "/tmp/", *VERSIONS]

# id, method, path, request arguments
ERROR_REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("not-found", "GET", "/nope", {}),
    ("static-traversal", "GET", "/static/../app/main.py", {}),
    ("wrong-method", "DELETE", "/predict", {}),
    ("no-file", "POST", "/predict", {}),
    ("garbage", "POST", "/predict", {"files": {"file": ("x", b"\0" * 99)}}),
    ("truncated", "POST", "/predict", {"files": {"file": ("x", DIGIT[:60])}}),
    ("bad-query", "POST", "/predict?normalize=perhaps", UPLOAD),
    (
        "bad-multipart",
        "POST",
        "/predict",
        {"content": b"--x", "headers": {"content-type": "multipart/form-data; boundary=y"}},
    ),
    ("v2-bad-json", "POST", "/v2/models/mnist/infer", {"content": b"{"}),
    (
        "v2-bad-shape",
        "POST",
        "/v2/models/mnist/infer",
        {
            "json": {
                "inputs": [
                    {"name": "pixels", "shape": [1, 3], "datatype": "FP32", "data": [0, 0, 0]}
                ]
            }
        },
    ),
    ("v2-other-model", "GET", "/v2/models/resnet", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [c[1:] for c in ERROR_REQUESTS],
    ids=[c[0] for c in ERROR_REQUESTS],
)
def test_error_body_reveals_no_internals(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = client.request(method, path, **kwargs)
    assert 400 <= response.status_code < 500
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} in {response.text}"


def test_internal_error_body_reveals_nothing(small_upload_app: FastAPI) -> None:
    async def broken(rows: object) -> None:
        raise RuntimeError(
            f"exploded in {ROOT}/app/inference/classifier.py with numpy {VERSIONS[0]}"
        )

    with TestClient(small_upload_app, raise_server_exceptions=False) as client:
        engine = SimpleNamespace(predict=broken)
        small_upload_app.state.serving = serving_with_engine(small_upload_app, engine)
        response = client.post("/predict", **UPLOAD)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; see the server log"}


def test_internal_error_on_v2_uses_the_protocol_error_format(small_upload_app: FastAPI) -> None:
    """Issue 15, finding 2: a 500 under /v2 answered {"detail"}, not the protocol's {"error"}."""

    async def broken(rows: object) -> None:
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    pixels = {"name": "pixels", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784}
    with TestClient(small_upload_app, raise_server_exceptions=False) as client:
        engine = SimpleNamespace(predict=broken)
        small_upload_app.state.serving = serving_with_engine(small_upload_app, engine)
        response = client.post("/v2/models/mnist/infer", json={"inputs": [pixels]})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error; see the server log"}


@pytest.mark.parametrize(
    ("path", "key"), [("/predict", "detail"), ("/v2/models/mnist/infer", "error")]
)
def test_refusals_before_routing_use_the_route_error_format(
    small_upload_app: FastAPI, path: str, key: str
) -> None:
    response = TestClient(small_upload_app).post(path, content=b"\0" * 100_000)
    assert response.status_code == 413
    assert list(response.json()) == [key]


# --- CORS -----------------------------------------------------------------------------------

ORIGIN = "https://digits.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "x-api-key",
}


def test_cors_closed_by_default(unstarted_client: TestClient) -> None:
    preflight = unstarted_client.options("/predict", headers=PREFLIGHT)
    simple = unstarted_client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_cors_open_to_configured_origins_only() -> None:
    settings = Settings(model_repository=REPOSITORY, cors_origins=[ORIGIN], api_key=KEY)
    client = TestClient(create_app(settings))
    allowed = client.options("/predict", headers=PREFLIGHT)  # no key: preflights carry none
    other = client.options("/predict", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    # Past the preflight, OPTIONS meets the key check like any other method.
    assert client.options("/predict", headers={"Origin": ORIGIN}).status_code == 401


def test_cors_origins_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_API_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


# --- upload names, the page, the container ----------------------------------------------------

HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\boot.ini",
    "a/../../b.png",
    "%2e%2e%2f",
]


def test_upload_name_is_never_used_as_a_path(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "written.png"
    names = [*HOSTILE_NAMES, str(target), f"../../../../../../..{target}"]
    files = [("files", (name, DIGIT, "image/png")) for name in names]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200
    assert [item["filename"] for item in response.json()["results"]] == names
    assert all(item["prediction"]["digit"] == 7 for item in response.json()["results"])
    assert not target.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "default-src 'self'"),
    ],
)
def test_page_has_security_header(unstarted_client: TestClient, header: str, value: str) -> None:
    assert value in unstarted_client.get("/").headers[header]


def dockerfile_stage(name: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of one stage of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stage: list[tuple[str, str]] = []
    inside = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            inside = arguments.lower().endswith(f" as {name}")
        elif inside:
            stage.append((instruction.upper(), arguments.strip()))
    return stage


def test_container_runs_as_non_root() -> None:
    stage = dockerfile_stage("runtime")
    users = [arguments for instruction, arguments in stage if instruction == "USER"]
    assert users, "the runtime stage sets no USER"
    assert users[-1] not in ("0", "root")
    assert users[-1].isdigit(), "a numeric uid, so Kubernetes can check runAsNonRoot"
    assert any(f"--uid {users[-1]}" in a for i, a in stage if i == "RUN")


def test_container_command_is_exec_form() -> None:
    (command,) = [a for i, a in dockerfile_stage("runtime") if i == "CMD"]
    assert json.loads(command) == ["python", "-m", "app"]
