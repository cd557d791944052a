"""Start a server on 127.0.0.1, time it to /readyz 200, read its workers' memory, stop it."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import free_port, procfs

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server did not become ready in time, or exited early; the message names its log."""


@dataclass(frozen=True)
class ServerSpec:
    name: str  # "service", "baseline" or "ceiling"
    workers: int
    command: list[str]  # without host/port; start() appends them
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} (w={self.workers})"


@dataclass
class Server:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float  # time.monotonic() just before the process was spawned
    ready_s: float | None = None  # process start -> first /readyz 200
    settled_s: float | None = None  # ... -> every worker up and idle

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def service_spec(workers: int, model: Path, env: dict[str, str]) -> ServerSpec:
    """This service as a user runs it: `python -m app --workers N --repository R`, serving the
    version of `model` (`R/mnist/<N>/model.keras`) only."""
    repository, version = model.parents[2], model.parent.name
    command = [
        sys.executable,
        "-m",
        "app",
        "--workers",
        str(workers),
        "--repository",
        str(repository),
    ]
    return ServerSpec("service", workers, command, {**env, "MNIST_API_VERSION_POLICY": version})


def bench_app_spec(name: str, workers: int, env: dict[str, str]) -> ServerSpec:
    """bench/baseline_app.py or bench/ceiling_app.py under bench/launch.py's uvicorn.run call."""
    command = [sys.executable, "-m", "bench.launch", name, "--workers", str(workers)]
    return ServerSpec(name, workers, command, env)


def start(spec: ServerSpec, log_dir: Path) -> Server:
    """Spawn the server in its own session, its output going to `log_dir/<name>-w<N>.log`."""
    port = free_port(HOST)
    command = [*spec.command, "--host", HOST, "--port", str(port)]
    log = log_dir / f"{spec.name}-w{spec.workers}.log"
    # Only the benchmark's settings count: drop the caller's MNIST_API_* variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_API_")}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", **spec.env})
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(spec, process, port, log, started)


def wait_ready(server: Server, timeout_s: float) -> None:
    """Poll /readyz until 200; then wait until all workers are spawned and their CPU is idle."""
    deadline = server.started + timeout_s
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while server.ready_s is None:
            _check_alive(server)
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{server.spec.label}: no /readyz 200 in {timeout_s:.0f} s; see {server.log}"
                )
            try:
                if client.get(f"{server.url}/readyz").status_code == 200:
                    server.ready_s = time.monotonic() - server.started
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    _wait_settled(server, deadline)


def _wait_settled(server: Server, deadline: float) -> None:
    # Workers load the model one by one behind the shared socket; load only once all are idle.
    if not wait_idle(server, deadline - time.monotonic()):
        raise ServerError(f"{server.spec.label}: workers still busy or missing; see {server.log}")
    server.settled_s = time.monotonic() - server.started


def wait_idle(server: Server, timeout_s: float, window_s: float = 0.5) -> bool:
    """Wait until every worker exists and the server used <10% of a core for two windows in a
    row (it has finished starting, or worked off the requests of a previous load)."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    last = _cpu_seconds(server)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(window_s)
        _check_alive(server)
        now = _cpu_seconds(server)
        enough = len(worker_pids(server)) == server.spec.workers
        quiet = quiet + 1 if enough and now - last < 0.1 * window_s else 0
        last = now
    return quiet >= 2


def _check_alive(server: Server) -> None:
    code = server.process.poll()
    if code is not None:
        tail = server.log.read_text(errors="replace")[-2000:]
        raise ServerError(f"{server.spec.label} exited with {code}; {server.log}:\n{tail}")


def worker_pids(server: Server) -> list[int]:
    """The uvicorn worker processes: the process itself, or its spawned children when w>1."""
    pid = server.process.pid
    if server.spec.workers == 1:
        return [pid]
    return [child for child in _children(pid) if "spawn_main" in _cmdline(child)]


def _children(pid: int) -> list[int]:
    try:
        return sorted(procfs.children(pid))
    except OSError:  # the process ended meanwhile
        return []


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # the process ended between listing and reading
        return ""


def _cmdline(pid: int) -> str:
    return _read(Path(f"/proc/{pid}/cmdline")).replace("\0", " ")


def _cpu_seconds(server: Server) -> float:
    pids = [server.process.pid, *_children(server.process.pid)]
    ticks = 0
    for pid in pids:
        stat = _read(Path(f"/proc/{pid}/stat"))
        if stat:
            fields = stat.rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MiB; None if it is gone."""
    try:
        return round(procfs.rss_mb(pid), 1)
    except (OSError, KeyError):
        return None


def memory(server: Server) -> dict[str, object]:
    """Resident memory of each worker, and of the supervisor when there is one."""
    workers = [rss_mb(pid) for pid in worker_pids(server)]
    supervisor = rss_mb(server.process.pid) if server.spec.workers > 1 else None
    return {"worker_rss_mb": workers, "supervisor_rss_mb": supervisor}


def stop(server: Server, grace_s: float = 20.0) -> None:
    """SIGTERM the server's process group; SIGKILL it if it has not exited after `grace_s`."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    _reap_group(server.process.pid)


def _reap_group(pgid: int) -> None:
    # Workers exit after the supervisor; wait until no process of the group remains.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
