"""Prometheus metrics: their definitions, how they are observed, and the scrape.

With several workers, PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is first
imported (`python -m app` does it); each worker then writes its values to files in that directory
and a scrape of any worker sums them all. Process metrics (CPU, memory) exist only with one worker.
"""

import glob
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from app.imaging.pixels import NUM_CLASSES
from app.inference.abstention import NotADigit
from app.inference.model_file import ModelInfo

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # no route: 404s, and bodies refused (413) before routing
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
LOAD_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
Predict = Callable[[NDArray[np.float32]], NDArray[np.float32]]


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The service's metrics; one instance per app, so apps in one process (tests) never clash."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        registry = None if self.multiprocess else self.registry  # multiprocess: values go to files
        if registry is not None:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request to the end of the response, by route template and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rpcs = Counter(
            "grpc_requests_total",
            "gRPC calls of the inference service by method and status code",
            ["method", "code"],
            registry=registry,
        )
        self.rpc_latency = Histogram(
            "grpc_request_duration_seconds",
            "Time from a gRPC call to its answer, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being handled",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.batch_rows = Histogram(
            "mnist_inference_batch_rows",
            "Rows in each forward pass of the batching engine",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "mnist_inference_queue_wait_seconds",
            "How long the oldest request of a batch waited for its forward pass to start",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "mnist_predictions_total",
            "Predicted digits (argmax), by model version",
            ["version", "digit"],
            registry=registry,
        )
        self.not_a_digit = Counter(
            "mnist_not_a_digit_total",
            'Answers of "not a digit" (digit null), by model version and reason',
            ["version", "reason"],
            registry=registry,
        )
        self.model_info = Gauge(
            "mnist_model_info",
            "A model version: 1 while served (by any worker), 0 once unloaded",
            ["name", "version", "sha256"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.model_loaded = Gauge(
            "mnist_model_loaded_timestamp_seconds",
            "When the latest model version was loaded (one series per live worker)",
            multiprocess_mode="liveall",
            registry=registry,
        )
        self.model_loads = Counter(
            "mnist_model_loads_total", "Model versions loaded", ["version"], registry=registry
        )
        self.model_load_failures = Counter(
            "mnist_model_load_failures_total",
            "Model versions that failed to load or to pass the check",
            ["version"],
            registry=registry,
        )
        self.model_load_seconds = Histogram(
            "mnist_model_load_duration_seconds",
            "Seconds to load, check and warm a model version",
            buckets=LOAD_BUCKETS,
            registry=registry,
        )
        self.versions_loaded = Gauge(
            "mnist_model_versions_loaded",
            "Model versions served (the most of any live worker)",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._live: dict[tuple[str, str, str], int] = {}  # (name, version, sha256) -> engines

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        key = (route, method, status)  # bounded: route templates x methods x statuses
        children = self._children.get(key)
        if children is None:  # labels() validates and locks: resolve each series once
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        """One call of the gRPC inference service (bounded: its methods x status codes)."""
        self.rpcs.labels(method, code).inc()
        self.rpc_latency.labels(method).observe(seconds)

    def observe_batch(self, rows: int, waited_seconds: float) -> None:
        """The BatchingEngine's `observe` callback."""
        self.batch_rows.observe(rows)
        self.queue_wait.observe(waited_seconds)

    def counting_predictions(self, predict: Predict, version: str) -> Predict:
        """Wrap a batch predict function so that each row's digit is counted for `version`."""
        digits = [self.predictions.labels(version, str(digit)) for digit in range(NUM_CLASSES)]

        def predict_and_count(rows: NDArray[np.float32]) -> NDArray[np.float32]:
            probabilities = predict(rows)
            counts = np.bincount(probabilities.argmax(axis=1), minlength=NUM_CLASSES)
            for digit in np.flatnonzero(counts):
                digits[digit].inc(int(counts[digit]))
            return probabilities

        return predict_and_count

    def count_not_a_digit(self, version: str, verdicts: Sequence[NotADigit | None]) -> None:
        """Count the rows of one answer that are not a digit, by reason."""
        for verdict in verdicts:
            if verdict is not None:
                self.not_a_digit.labels(version, verdict.reason).inc()

    # The model repository's observer (app.inference.repository.Observer).
    def version_loaded(self, info: ModelInfo, seconds: float) -> None:
        key = (info.name, info.version, info.sha256)
        self._live[key] = self._live.get(key, 0) + 1
        self.model_info.labels(*key).set(1)
        self.model_loaded.set(time.time())
        self.model_loads.labels(info.version).inc()
        self.model_load_seconds.observe(seconds)
        self._count_versions()

    def version_load_failed(self, version: int) -> None:
        self.model_load_failures.labels(str(version)).inc()

    def version_unloaded(self, info: ModelInfo) -> None:
        key = (info.name, info.version, info.sha256)
        self._live[key] = self._live.get(key, 1) - 1
        if self._live[key] <= 0:
            del self._live[key]
            self.model_info.labels(*key).set(0)
        self._count_versions()

    def _count_versions(self) -> None:
        self.versions_loaded.set(len({version for _, version, _ in self._live}))

    def render(self, accept: str) -> tuple[bytes, str]:
        """(scrape, content type) in the format `accept` asks for; every worker's, summed."""
        encode, content_type = choose_encoder(accept)
        path = multiprocess_dir()
        if not self.multiprocess or path is None:
            return encode(self.registry), content_type
        _forget_dead_workers(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        return encode(registry), content_type


def _forget_dead_workers(path: str) -> None:
    """Drop the live-gauge files of workers that exited (uvicorn has no child-exit hook)."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = re.search(r"_(\d+)\.db$", name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
