"""A benchmark run: per worker count, start and check each server in turn, then load them taking
turns: every load point runs in rounds, each round driving every server once, one after another,
so that the servers compared are measured seconds apart, not minutes (the machine's speed
drifts), and each server's reported point is its median round."""

import logging
from dataclasses import dataclass, field, replace
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
    rounds: int  # of each load point, the servers taking turns within a round
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
    loads: list[LoadResult] = field(default_factory=list)  # per concurrency, the median round
    batch: LoadResult | None = None  # the median round
    rounds: list[LoadResult] = field(default_factory=list)  # every measured round, in order
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
            "rounds": [load.to_dict() for load in self.rounds],
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
    """Every requested server at every worker count; per worker count all are started, loaded
    in turns, then stopped."""
    workload = prepare_workload(config)
    runs: list[ServerRun] = []
    for workers in config.workers:
        runs += run_servers(workers, config, workload)
    return runs


def run_servers(workers: int, config: Config, workload: Workload) -> list[ServerRun]:
    """Start and check each server in turn (the service first: the ceiling answers with its
    saved answers), load them all in rounds, stop them; errors are recorded, not raised."""
    started: list[tuple[Server, ServerRun]] = []
    runs = []
    ceiling_env: dict[str, str] = {}
    try:
        for name in config.servers:
            spec = _spec(name, workers, config, ceiling_env)
            run, server = start_server(spec, config, workload)
            runs.append(run)
            if server is None:
                continue
            started.append((server, run))
            if name == "service":
                ceiling_env = {
                    "BENCH_PREDICT_ANSWER": str(config.work / "service-predict.json"),
                    "BENCH_BATCH_ANSWER": str(config.work / "service-batch.json"),
                }
        _load_in_turns(started, config, workload)
        for server, run in started:
            if run.error is None:
                run.memory_loaded = servers.memory(server)
    finally:
        for server, _ in started:
            servers.stop(server)
    return runs


def _spec(name: str, workers: int, config: Config, ceiling_env: dict[str, str]) -> ServerSpec:
    if name == "service":
        return servers.service_spec(workers, config.model, config.service_env)
    if name == "baseline":
        return servers.bench_app_spec(name, workers, {"BENCH_MODEL": str(config.model)})
    return servers.bench_app_spec(name, workers, ceiling_env)


def start_server(
    spec: ServerSpec, config: Config, workload: Workload
) -> tuple[ServerRun, Server | None]:
    """Start one server (the others started so far are idle), time it to ready, check its
    answers, read its idle memory; on failure record the error, stop it and return no server."""
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
    except (ServerError, CheckError) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        logger.error("%s: %s", spec.label, run.error)
        servers.stop(server)
        return run, None
    return run, server


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


def _load_in_turns(
    started: list[tuple[Server, ServerRun]], config: Config, workload: Workload
) -> None:
    """Warm each server up, then run every load point `config.rounds` times, each round
    loading every server once in turn (starting with the next server each round); keep each
    server's median round per point. A server that fails is recorded and left out from then on."""

    def wrk(server: Server, run: ServerRun, path: str, body: Body, connections: int,
            duration_s: int) -> LoadResult | None:  # fmt: skip
        if run.error is not None:
            return None
        try:
            result = run_wrk(
                server.url + path, body, connections=connections, threads=config.threads,
                duration_s=duration_s, timeout_s=config.timeout_s,
            )  # fmt: skip
            # A server still working off queued requests would slow the next load down.
            if not servers.wait_idle(server, DRAIN_TIMEOUT_S):
                logger.warning("%s: still busy %d s after a load", run.name, DRAIN_TIMEOUT_S)
        except (LoadError, ServerError) as exc:  # wrk failed, or the server died: the others go on
            run.error = f"{type(exc).__name__}: {exc}"
            logger.error("%s: %s", run.name, run.error)
            return None
        return result

    if not started:
        return
    if config.warmup_s > 0:
        for server, run in started:
            wrk(server, run, "/predict", workload.single,
                min(WARMUP_CONNECTIONS, max(config.connections)), config.warmup_s)  # fmt: skip
    points = [("/predict", workload.single, c) for c in config.connections]
    points.append(("/predict/batch", workload.batch, config.batch_connections))
    for path, body, connections in points:
        measured: dict[int, list[LoadResult]] = {id(run): [] for _, run in started}
        for round_ in range(config.rounds):
            turn = round_ % len(started)  # who goes first rotates: no server always follows another
            for server, run in started[turn:] + started[:turn]:
                result = wrk(server, run, path, body, connections, config.duration_s)
                if result is None:
                    continue
                measured[id(run)].append(result)
                run.rounds.append(result)
                logger.info(
                    "%s %s c=%d round %d: %.0f req/s (%.0f images/s), p50 %.1f ms, "
                    "p99 %.1f ms, %d errors",
                    run.name, path, connections, round_ + 1, result.rps, result.images_per_s,
                    result.p50_ms, result.p99_ms, result.error_count,
                )  # fmt: skip
        for _, run in started:
            if not measured[id(run)]:
                continue
            median = median_round(measured[id(run)])
            if path == "/predict":
                run.loads.append(median)
            else:
                run.batch = median


def median_round(results: list[LoadResult]) -> LoadResult:
    """The round with the median throughput (the lower middle one of an even count), errors
    summed over all rounds so that none is hidden."""
    ordered = sorted(results, key=lambda result: result.rps)
    middle = ordered[(len(ordered) - 1) // 2]
    errors: dict[str, int] = {}
    for result in results:
        for kind, count in result.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return replace(middle, errors=errors)
