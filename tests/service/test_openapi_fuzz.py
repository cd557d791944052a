"""Schemathesis against the service's own /openapi.json, over HTTP to a real `python -m app`:
every operation, valid and invalid requests, no 5xx and nothing the schema does not document.

SCHEMATHESIS_EXAMPLES=200 generates more than CI's 25 per operation.
"""

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings
from tests.support import servers

pytestmark = [pytest.mark.fuzz, pytest.mark.server]

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A threshold near 1: generated images are answered "not a digit" too, so both shapes of an
    # answer are checked against the schema.
    env = {"MNIST_API_BODY_TIMEOUT_S": "5", "MNIST_API_ABSTAIN_THRESHOLD": "0.99"}
    with servers.running(tmp_path_factory.mktemp("openapi"), env=env) as server:
        yield server.url


# Generated from the app's schema at collection (schemathesis' lazy fixture loader does not run
# under this pytest); the test below checks that the server publishes this very schema.
SCHEMA = create_app(Settings(api_key=None)).openapi()  # the servers run without a key
schema = schemathesis.openapi.from_dict(SCHEMA)


def test_served_openapi_is_the_one_tested(live_url: str) -> None:
    assert httpx.get(f"{live_url}/openapi.json", timeout=30).json() == SCHEMA


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case, live_url: str) -> None:
    case.call_and_validate(base_url=live_url, checks=CHECKS, timeout=30)
