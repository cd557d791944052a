"""Drive a server with wrk for a bounded time and parse the JSON line bench/post_png.lua prints."""

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

LUA_SCRIPT = Path(__file__).resolve().parent / "post_png.lua"
RESULT_PREFIX = "BENCH_RESULT "


class LoadError(RuntimeError):
    """wrk is missing, failed, overran its time bound, or printed no result line."""


@dataclass(frozen=True)
class Body:
    path: Path  # the multipart body file
    content_type: str
    images: int  # PNGs per request


@dataclass(frozen=True)
class LoadResult:
    endpoint: str
    connections: int
    threads: int
    images_per_request: int
    duration_s: float
    requests: int
    rps: float  # completed requests per second
    images_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]  # connect/read/write/timeout from wrk; status = responses >= 400

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "error_count": self.error_count}


def wrk_path() -> str:
    """The wrk executable; raise LoadError naming the Debian package when it is missing."""
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not on PATH; install it with `apt-get install -y wrk`")
    return path


def wrk_version() -> str:
    result = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, timeout=10)
    return (result.stdout or result.stderr).splitlines()[0].strip()


def run_wrk(
    url: str, body: Body, *, connections: int, threads: int, duration_s: int, timeout_s: int
) -> LoadResult:
    """Post `body` to `url` from `connections` connections for `duration_s` seconds."""
    threads = max(1, min(threads, connections))
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    env = {"BENCH_BODY": str(body.path), "BENCH_CONTENT_TYPE": body.content_type}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**_base_env(), **env},
            timeout=duration_s + timeout_s + 30,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(
            f"wrk did not finish within {exc.timeout:.0f} s: {' '.join(command)}"
        ) from None
    if done.returncode != 0:
        raise LoadError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    raw = parse_result(done.stdout)
    return to_result(raw, url, connections, threads, body.images)


def _base_env() -> dict[str, str]:
    return {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}


def parse_result(stdout: str) -> dict[str, object]:
    """The dict printed by post_png.lua's done(); raise LoadError if the line is missing."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            parsed: dict[str, object] = json.loads(line[len(RESULT_PREFIX) :])
            return parsed
    raise LoadError(f"wrk printed no {RESULT_PREFIX.strip()} line:\n{stdout}")


def to_result(
    raw: dict[str, object], url: str, connections: int, threads: int, images: int
) -> LoadResult:
    latency: dict[str, float] = raw["latency_us"]  # type: ignore[assignment]
    errors: dict[str, int] = raw["errors"]  # type: ignore[assignment]
    requests = int(raw["requests"])  # type: ignore[call-overload]
    duration_s = int(raw["duration_us"]) / 1e6  # type: ignore[call-overload]
    rps = requests / duration_s if duration_s > 0 else 0.0
    return LoadResult(
        endpoint=urlsplit(url).path,
        connections=connections,
        threads=threads,
        images_per_request=images,
        duration_s=round(duration_s, 3),
        requests=requests,
        rps=round(rps, 1),
        images_per_s=round(rps * images, 1),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=dict(errors),
    )
