"""GET /metrics: a valid Prometheus scrape whose counters move with the requests served."""

import os
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.__main__ import MULTIPROC_ENV, metrics_dir
from tests import support
from tests.support import png, servers
from training.data import Mnist

Labels = dict[str, str]


def scrape(text: str) -> dict[str, list[tuple[Labels, float]]]:
    """Sample name -> [(labels, value)], parsed the way Prometheus parses a scrape."""
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list[tuple[Labels, float]]], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 if there are none)."""
    matching = samples.get(name, [])
    return sum(v for have, v in matching if labels.items() <= have.items())


def metrics_of(client: TestClient) -> dict[str, list[tuple[Labels, float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return scrape(response.text)


def test_metrics_is_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert scrape(response.text)


def test_metrics_offers_openmetrics_when_asked(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    route = {"route": "/v2/models/{model_name}", "method": "GET", "status": "200"}
    before = metrics_of(client)
    assert client.get("/v2/models/mnist").status_code == 200
    after = metrics_of(client)
    assert (
        value(after, "http_requests_total", **route)
        == value(before, "http_requests_total", **route) + 1
    )
    assert not any(s[0].get("route") == "/v2/models/mnist" for s in after["http_requests_total"])


def test_metrics_count_unrouted_requests_as_unmatched(client: TestClient) -> None:
    labels = {"route": "unmatched", "status": "404"}
    before = value(metrics_of(client), "http_requests_total", **labels)
    client.get("/no/such/path/42")
    assert value(metrics_of(client), "http_requests_total", **labels) == before + 1


def test_metrics_time_requests_by_route(client: TestClient) -> None:
    name, labels = "http_request_duration_seconds_count", {"route": "/healthz", "method": "GET"}
    before = value(metrics_of(client), name, **labels)
    client.get("/healthz")
    client.get("/healthz")
    assert value(metrics_of(client), name, **labels) == before + 2


def test_metrics_in_flight_counts_the_scrape_itself(client: TestClient) -> None:
    assert value(metrics_of(client), "http_requests_in_flight") == 1


def test_metrics_count_predictions_by_digit_and_batches(client: TestClient, mnist: Mnist) -> None:
    digit = str(int(mnist.y_test[0]))
    before = metrics_of(client)
    response = client.post("/predict", files={"file": ("d.png", png(mnist.x_test[0]), "image/png")})
    assert response.json()["digit"] == int(digit)
    after = metrics_of(client)
    for name, labels in [
        ("mnist_predictions_total", {"digit": digit, "version": "3"}),
        ("mnist_inference_batch_rows_count", {}),
        ("mnist_inference_queue_wait_seconds_count", {}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name
    assert (
        value(after, "mnist_inference_batch_rows_sum")
        >= value(before, "mnist_inference_batch_rows_sum") + 1
    )


def test_metrics_describe_the_model_and_process(client: TestClient) -> None:
    samples = metrics_of(client)
    [(labels, one)] = samples["mnist_model_info"]
    assert (labels["name"], labels["version"], one) == ("mnist", "3", 1.0)
    assert value(samples, "mnist_model_load_duration_seconds_sum") > 0
    assert value(samples, "mnist_model_loads_total", version="3") >= 1
    assert value(samples, "mnist_model_versions_loaded") == 1
    assert value(samples, "mnist_model_loaded_timestamp_seconds") > 0
    assert value(samples, "process_resident_memory_bytes") > 0


def test_metrics_dir_is_made_only_for_several_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with metrics_dir(1):
        assert MULTIPROC_ENV not in os.environ
    with metrics_dir(2):
        path = Path(os.environ[MULTIPROC_ENV])
        assert path.is_dir()
        assert not any(path.iterdir())
    assert not path.exists()
    assert MULTIPROC_ENV not in os.environ
    monkeypatch.setenv(MULTIPROC_ENV, "/somewhere/chosen")
    with metrics_dir(2):
        assert os.environ[MULTIPROC_ENV] == "/somewhere/chosen"


WORKERS = 2
LIVE = {"route": "/v2/health/live", "method": "GET", "status": "200"}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`python -m app --workers 2` with TMPDIR in a test folder; yields (base URL, that folder)."""
    tmp = tmp_path_factory.mktemp("two-workers")
    port = support.free_port()
    env = {k: v for k, v in servers.clean_env().items() if k != MULTIPROC_ENV}
    env["TMPDIR"] = str(tmp)
    env["MNIST_API_INFERENCE_THREADS"] = "1"
    log = tmp / "stderr.log"
    command = servers.app_command("--port", str(port), "--workers", str(WORKERS))
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=support.ROOT, env=env, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        support.wait_ready(process, url, log)
        yield url, tmp
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not list(tmp.glob("mnist-serve-metrics-*")), "the metrics folder outlived the server"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def per_worker(folder: Path) -> dict[str, float]:
    """Each worker's own count of LIVE requests, read from its counter file."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        samples = [s for m in MultiProcessCollector.merge([str(path)]) for s in m.samples]
        pid = path.stem.removeprefix("counter_")
        counts[pid] = sum(s.value for s in samples if LIVE.items() <= s.labels.items())
    return counts


def live_requests(url: str, count: int) -> None:
    def one(_: int) -> None:
        # A new connection each time, so that either worker may accept it.
        assert httpx.get(f"{url}/v2/health/live", timeout=10, trust_env=False).status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


@pytest.mark.server
def test_metrics_sum_every_worker(two_workers: tuple[str, Path]) -> None:
    url, tmp = two_workers
    [folder] = tmp.glob("mnist-serve-metrics-*")
    sent = 0
    while sent < 400 and sum(count > 0 for count in per_worker(folder).values()) < WORKERS:
        live_requests(url, 40)
        sent += 40
    assert sum(count > 0 for count in per_worker(folder).values()) == WORKERS, per_worker(folder)
    for _ in range(4):  # whichever worker answers the scrape, it reports both workers' requests
        text = httpx.get(f"{url}/metrics", timeout=10, trust_env=False).text
        samples = scrape(text)
        assert value(samples, "http_requests_total", **LIVE) == sent
        pids = {labels["pid"] for labels, _ in samples["mnist_model_loaded_timestamp_seconds"]}
        assert len(pids) == WORKERS
