"""`python -m app`: run the service under uvicorn; flags override MNIST_API_* variables."""

import argparse
import importlib.util
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from app.inference.layout import MODEL_FILE, Source
from app.inference.model_file import ModelLoadError, litert_path
from app.settings import Settings, env_name

if TYPE_CHECKING:
    import uvicorn

APP = "app.main:create_app"
LITERT_FILE = litert_path(Path(MODEL_FILE)).name
# httptools, with each request's head bounded (app.http.server_protocol); uvicorn bounds h11 itself.
BOUNDED_HTTPTOOLS = "app.http.server_protocol:BoundedHttpToolsProtocol"
H11_MAX_HEAD_BYTES = 128 * 1024  # = app.http.server_protocol.MAX_HEAD_BYTES, which needs httptools
# Spelled out, not imported from app.metrics: prometheus_client must not load before it is set.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the MNIST classifier over HTTP. Every setting can also be given as "
        "an MNIST_API_* environment variable (see the README).",
    )
    parser.add_argument("--host", help="bind address (default: 127.0.0.1, $MNIST_API_HOST)")
    parser.add_argument("--port", type=int, help="bind port (default: 8000, $MNIST_API_PORT)")
    parser.add_argument(
        "--grpc-port",
        help="gRPC port, 0: off (default: 8001, $MNIST_API_GRPC_PORT)",
    )
    parser.add_argument(
        "--workers", type=int, help="worker processes (default: 1, $MNIST_API_WORKERS)"
    )
    parser.add_argument(
        "--repository",
        type=Path,
        help="the model repository (default: models/, $MNIST_API_MODEL_REPOSITORY)",
    )
    return parser.parse_args(argv)


@contextmanager
def metrics_dir(workers: int) -> Iterator[None]:
    """With several workers, point Prometheus at a fresh multiprocess directory, unless set.

    The workers inherit the variable; the directory and the workers' files go on exit.
    """
    if workers == 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="mnist-serve-metrics-") as path:
        os.environ[MULTIPROC_ENV] = path
        try:
            yield
        finally:
            del os.environ[MULTIPROC_ENV]


@contextmanager
def state_dir(settings: Settings) -> Iterator[None]:
    """Unless set, a fresh directory where load/unload requests reach every worker; it goes on
    exit, so a restart serves what the version policy selects (as Triton does)."""
    if settings.state_dir is not None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="mnist-serve-state-") as path:
        os.environ[env_name("state_dir")] = path
        try:
            yield
        finally:
            del os.environ[env_name("state_dir")]


def check_models(settings: Settings) -> None:
    """Refuse at once, naming the setting, when there is no model file or version to serve."""
    source = Source(settings.model_repository)
    try:
        found = source.scan()
    except OSError as exc:
        raise ModelLoadError(f"{exc}; set --repository or {env_name('model_repository')}") from None
    if not found:
        raise ModelLoadError(
            f"no model versions in {source.folder} (folders 1, 2, ... each with {MODEL_FILE} "
            f"and {LITERT_FILE}); "
            f"set --repository or {env_name('model_repository')}"
        )


def http_options() -> dict[str, Any]:
    """uvicorn's HTTP implementation, with a bound on request heads either way."""
    if importlib.util.find_spec("httptools") is not None:
        return {"http": BOUNDED_HTTPTOOLS}
    return {"http": "h11", "h11_max_incomplete_event_size": H11_MAX_HEAD_BYTES}


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the SIGTERM it shut down for; the shutdown is done by then: exit 0."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Workers are separate processes that build their own Settings: pass flags on through the env.
    for field, value in (
        ("host", args.host),
        ("port", args.port),
        ("grpc_port", args.grpc_port),
        ("workers", args.workers),
        ("model_repository", args.repository),
    ):
        if value is not None:
            os.environ[env_name(field)] = str(value)
    try:
        settings = Settings()
        check_models(settings)
    except (ModelLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    signal.signal(signal.SIGTERM, exit_cleanly)
    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        "server_header": False,  # no "server: uvicorn" on every answer
        **http_options(),
    }
    with metrics_dir(settings.workers), state_dir(settings):
        if settings.workers == 1:
            uvicorn.run(APP, **options)
            return 0
        return supervise(uvicorn.Config(APP, **options))


def supervise(config: "uvicorn.Config") -> int:
    """Run the workers under uvicorn's supervisor (which restarts any that dies) as uvicorn.run
    does, but exit non-zero when one failed to start: uvicorn.run returns normally then."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_FAILURE if failed else 0


if __name__ == "__main__":
    sys.exit(main())
