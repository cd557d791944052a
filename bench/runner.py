"""A benchmark run: per worker count, start each server in turn, check, load and stop it."""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import servers
from bench.checks import CheckError, check_server
from bench.load import Body, LoadError, LoadResult, run_wrk
from bench.samples import Digit, content_type, load_digits, multipart
from bench.servers import Server, ServerError, ServerSpec

logger = logging.getLogger(__name__)

SERVERS = ("service", "baseline", "ceiling")
CHECK_SAMPLES = 20
WARMUP_CONNECTIONS = 16
DRAIN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Config:
    npz: Path
    model: Path
    workers: list[int]
    servers: list[str]
    connections: list[int]
    duration_s: int  # wrk takes whole seconds
    timeout_s: int
    threads: int
    warmup_s: int
    batch_size: int
    batch_connections: int
    ready_timeout_s: float
    service_env: dict[str, str]
    work: Path  # scratch: request bodies, saved answers, server logs


@dataclass
class ServerRun:
    name: str
    workers: int
    ready_s: float | None = None
    settled_s: float | None = None
    memory_idle: dict[str, object] = field(default_factory=dict)
    memory_loaded: dict[str, object] = field(default_factory=dict)
    answer_bytes: dict[str, int] = field(default_factory=dict)
    loads: list[LoadResult] = field(default_factory=list)
    batch: LoadResult | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workers": self.workers,
            "ready_s": _round(self.ready_s),
            "settled_s": _round(self.settled_s),
            "memory_idle": self.memory_idle,
            "memory_loaded": self.memory_loaded,
            "answer_bytes": self.answer_bytes,
            "loads": [load.to_dict() for load in self.loads],
            "batch": self.batch.to_dict() if self.batch else None,
            "error": self.error,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True)
class Workload:
    samples: list[Digit]
    load_digit: Digit
    batch_digits: list[Digit]
    single: Body
    batch: Body


def prepare_workload(config: Config) -> Workload:
    """Encode real MNIST test digits and write the two request bodies wrk posts."""
    digits = load_digits(config.npz, max(CHECK_SAMPLES, config.batch_size))
    config.work.mkdir(parents=True, exist_ok=True)
    single_path = config.work / "predict.body"
    single_path.write_bytes(multipart("file", digits[:1]))
    batch_path = config.work / "batch.body"
    batch_path.write_bytes(multipart("files", digits[: config.batch_size]))
    return Workload(
        samples=digits[:CHECK_SAMPLES],
        load_digit=digits[0],
        batch_digits=digits[: config.batch_size],
        single=Body(single_path, content_type(), 1),
        batch=Body(batch_path, content_type(), config.batch_size),
    )


def run_all(config: Config) -> list[ServerRun]:
    """Every requested server at every worker count, strictly one after another."""
    workload = prepare_workload(config)
    runs = []
    for workers in config.workers:
        ceiling_env: dict[str, str] = {}
        for name in config.servers:
            spec = _spec(name, workers, config, ceiling_env)
            run = run_server(spec, config, workload)
            if name == "service" and run.error is None:
                ceiling_env = {
                    "BENCH_PREDICT_ANSWER": str(config.work / "service-predict.json"),
                    "BENCH_BATCH_ANSWER": str(config.work / "service-batch.json"),
                }
            runs.append(run)
    return runs


def _spec(name: str, workers: int, config: Config, ceiling_env: dict[str, str]) -> ServerSpec:
    if name == "service":
        return servers.service_spec(workers, config.model, config.service_env)
    if name == "baseline":
        return servers.bench_app_spec(name, workers, {"BENCH_MODEL": str(config.model)})
    return servers.bench_app_spec(name, workers, ceiling_env)


def run_server(spec: ServerSpec, config: Config, workload: Workload) -> ServerRun:
    """Start, check, load and stop one server; errors are recorded in the result, not raised."""
    run = ServerRun(spec.name, spec.workers)
    logger.info("%s: starting", spec.label)
    server = servers.start(spec, config.work)
    try:
        servers.wait_ready(server, config.ready_timeout_s)
        run.ready_s, run.settled_s = server.ready_s, server.settled_s
        logger.info(
            "%s: /readyz 200 after %.1f s, idle after %.1f s",
            spec.label,
            run.ready_s,
            run.settled_s,
        )
        _check(spec, server.url, config, workload, run)
        run.memory_idle = servers.memory(server)
        _load(server, config, workload, run)
        run.memory_loaded = servers.memory(server)
    except (ServerError, CheckError, LoadError) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        logger.error("%s: %s", spec.label, run.error)
    finally:
        servers.stop(server)
    return run


def _check(spec: ServerSpec, url: str, config: Config, workload: Workload, run: ServerRun) -> None:
    answers = check_server(
        url,
        workload.samples,
        workload.load_digit,
        workload.batch_digits,
        answers=spec.name != "ceiling",
    )
    run.answer_bytes = {"predict": len(answers.predict), "batch": len(answers.batch)}
    if spec.name == "service":
        (config.work / "service-predict.json").write_bytes(answers.predict)
        (config.work / "service-batch.json").write_bytes(answers.batch)
    logger.info(
        "%s: %d sample digits and a %d-image batch answered correctly",
        spec.label,
        len(workload.samples),
        len(workload.batch_digits),
    )


def _load(server: Server, config: Config, workload: Workload, run: ServerRun) -> None:
    def wrk(path: str, body: Body, connections: int, duration_s: int) -> LoadResult:
        result = run_wrk(
            server.url + path, body, connections=connections, threads=config.threads,
            duration_s=duration_s, timeout_s=config.timeout_s,
        )  # fmt: skip
        # A server still working off queued requests would slow the next point down.
        if not servers.wait_idle(server, DRAIN_TIMEOUT_S):
            logger.warning("%s: still busy %d s after a load", run.name, DRAIN_TIMEOUT_S)
        return result

    if config.warmup_s > 0:
        wrk("/predict", workload.single, min(WARMUP_CONNECTIONS, max(config.connections)),
            config.warmup_s)  # fmt: skip
    for connections in config.connections:
        result = wrk("/predict", workload.single, connections, config.duration_s)
        logger.info(
            "%s c=%d: %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors",
            run.name,
            connections,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            result.error_count,
        )
        run.loads.append(result)
    run.batch = wrk("/predict/batch", workload.batch, config.batch_connections, config.duration_s)
    logger.info(
        "%s batch c=%d: %.0f images/s, p99 %.1f ms, %d errors",
        run.name,
        config.batch_connections,
        run.batch.images_per_s,
        run.batch.p99_ms,
        run.batch.error_count,
    )
